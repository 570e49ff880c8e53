"""App and environment names: whatever they come from, only DNS-1123 labels get through,
and no name can lead a generated path out of ``apps/<name>/``."""

from __future__ import annotations

import json
import string
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generators.appconfig import parse_app_config
from generators.config import parse_config
from generators.errors import GeneratorError
from generators.naming import DNS_LABEL, derive_app_name, is_app_name, validate_app_name
from generators.overlay import set_image
from generators.pipeline import GenerateRequest, generate
from tests.generators.generate_support import REGISTRY, REPO_URL

BAD_NAMES = [
    "shop\n",  # "$" matches before a trailing newline: the name must be matched to its end
    "shop\r",
    "\nshop",
    "Shop",
    "SHOP",
    "../shop",
    "..",
    "shop/x",
    "my shop",
    " shop",
    "-shop",
    "shop-",
    "shop_1",
    "shöp",
    "x" * 64,
    "x" * (1 << 20),
    "",
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_the_validator_refuses_what_is_not_a_label(name: str) -> None:
    with pytest.raises(GeneratorError) as caught:
        validate_app_name(name, "--name")
    message = str(caught.value)
    assert message.startswith("--name: app name")
    assert "\n" not in message and "\r" not in message and len(message) < 300
    assert not is_app_name(name)


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if len(n) < 100], ids=repr)
def test_the_app_config_refuses_the_same_names(name: str) -> None:
    text = f"name: {json.dumps(name)}\n"  # JSON strings are YAML double-quoted scalars
    with pytest.raises(GeneratorError) as caught:
        parse_app_config(text, "app/.github/autostack.yml")
    assert str(caught.value).startswith("app/.github/autostack.yml: name: app name")


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    from generators import initrepo

    app = tmp_path / "app"
    (app / ".github").mkdir(parents=True)
    (app / "index.html").write_text("<h1>hi</h1>\n")
    gitops = tmp_path / "gitops"
    initrepo.init_repository(gitops, repo_url=REPO_URL)
    return app, gitops


def _snapshot(*roots: Path) -> dict[str, bytes | None]:
    return {
        str(p): (None if p.is_dir() or p.is_symlink() else p.read_bytes())
        for root in roots
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("source", ["flag", "app config"])
def test_generate_refuses_a_name_with_a_trailing_newline_from_every_source(
    source: str, workspace: tuple[Path, Path]
) -> None:
    app, gitops = workspace
    if source == "app config":
        (app / ".github/autostack.yml").write_text('name: "shop\\n"\n')
    before = _snapshot(app, gitops)
    with pytest.raises(GeneratorError, match=r"app name 'shop\\n' is not a DNS-1123 label"):
        generate(
            GenerateRequest(
                app_dir=app,
                gitops_dir=gitops,
                registry=REGISTRY,
                name="shop\n" if source == "flag" else None,
            )
        )
    assert _snapshot(app, gitops) == before
    assert not (gitops / "apps").exists() or not any((gitops / "apps").glob("shop*"))


@pytest.mark.parametrize("repo", ["acme/Shop.Web", "acme/__x__", "acme/My App\n"])
def test_a_name_derived_from_the_repository_is_a_label(
    repo: str, workspace: tuple[Path, Path]
) -> None:
    app, gitops = workspace
    result = generate(
        GenerateRequest(app_dir=app, gitops_dir=gitops, registry=REGISTRY, source_repo=repo)
    )
    assert DNS_LABEL.match(result.spec.name)
    assert all(
        c.path.startswith((f"apps/{result.spec.name}/", "argocd/"))
        for c in result.gitops_changes.changes
    )


# Labels with what must never get through put around them, and arbitrary text.
_JUNK = st.sampled_from(["", "", "\n", "\r\n", " ", "-", "/", "../", ".", "\x00", "A", "é"])
NAMEISH = st.builds(
    lambda before, label, after: before + label + after,
    _JUNK,
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?", fullmatch=True),
    _JUNK,
)


@given(NAMEISH | st.text(max_size=80))
def test_any_text_is_refused_or_is_a_label_that_stays_in_its_folder(text: str) -> None:
    try:
        name = validate_app_name(text)
    except GeneratorError as exc:
        assert "\n" not in str(exc)
        return
    # Checked independently of the validator's own pattern, character by character.
    assert 0 < len(name) <= 63 and set(name) <= set(string.ascii_lowercase + string.digits + "-")
    assert name[0] != "-" and name[-1] != "-"
    path = PurePosixPath("apps") / name / "overlays" / "prod"
    assert path.parts == ("apps", name, "overlays", "prod")


@given(NAMEISH | st.text(max_size=80))
def test_a_derived_name_is_refused_or_valid(text: str) -> None:
    try:
        name = derive_app_name(text)
    except GeneratorError:
        return
    assert validate_app_name(name) == name


@pytest.mark.parametrize("env", ["dev\n", "Dev", "../dev", "dev/x", "-dev", "d" * 64])
def test_environment_names_are_labels_too(env: str) -> None:
    text = f"repo_url: {REPO_URL}\nenvironments:\n  - name: {json.dumps(env)}\n"
    with pytest.raises(GeneratorError, match=r"environments\[0\]\.name: must be a DNS label"):
        parse_config(text)


@pytest.mark.parametrize(
    ("name", "tag"), [("ghcr.io/acme/shop\n", "abc"), ("ghcr.io/acme/shop", "abc\n")]
)
def test_an_image_with_a_trailing_newline_is_refused(name: str, tag: str) -> None:
    text = "images:\n  - name: shop\n    newName: ghcr.io/acme/shop\n    newTag: old\n"
    with pytest.raises(GeneratorError, match="is not an image"):
        set_image(text, "shop", name, tag)
