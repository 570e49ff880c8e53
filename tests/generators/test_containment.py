"""Nothing the generator reads or writes leaves the app directory or the GitOps directory:
not through a symlinked ``path:``, ``.github`` or ``.github/workflows``, not through a
symlinked file, not through ``..`` or an absolute path. A refusal is one line and leaves
every directory as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators import changeset, initrepo
from generators.errors import GeneratorError
from generators.paths import contained, relative_path
from generators.pipeline import GenerateRequest, generate
from tests.generators.generate_support import REGISTRY, REPO_URL

AUTOSTACK = [sys.executable, "-m", "bot.cli"]
Setup = Callable[[Path, Path, Path], None]  # (app, gitops, outside)


def snapshot(*roots: Path) -> dict[str, bytes | str | None]:
    seen: dict[str, bytes | str | None] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                seen[str(path)] = os.readlink(path)
            elif path.is_dir():
                seen[str(path)] = None
            else:
                seen[str(path)] = path.read_bytes()
    return seen


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    app = tmp_path / "app"
    (app / ".github").mkdir(parents=True)
    (app / "index.html").write_text("<h1>hi</h1>\n")
    gitops = tmp_path / "gitops"
    initrepo.init_repository(gitops, repo_url=REPO_URL)
    outside = tmp_path / "outside"
    (outside / "site").mkdir(parents=True)
    (outside / "site" / "index.html").write_text("<h1>not yours</h1>\n")
    (outside / "secret.txt").write_text("do not read\n")
    return app, gitops, outside


def _config(app: Path, text: str) -> None:
    (app / ".github" / "autostack.yml").write_text(text)


def _path_link(app: Path, _: Path, outside: Path) -> None:
    os.symlink(outside / "site", app / "ext")
    _config(app, "path: ext\n")


def _relative_path_link(app: Path, _: Path, outside: Path) -> None:
    os.symlink("../outside/site", app / "ext")
    _config(app, "path: ext/\n")


def _nested_path_link(app: Path, _: Path, outside: Path) -> None:
    (app / "services").mkdir()
    os.symlink(outside, app / "services" / "api")
    _config(app, "path: services/api/site\n")


def _workflows_link(app: Path, _: Path, outside: Path) -> None:
    os.symlink(outside, app / ".github" / "workflows")


def _github_link(app: Path, _: Path, outside: Path) -> None:
    (app / ".github").rmdir()
    os.symlink(outside, app / ".github")


def _github_link_with_config(app: Path, gitops: Path, outside: Path) -> None:
    (outside / "autostack.yml").write_text("port: 8080\n")
    _github_link(app, gitops, outside)


def _workflow_file_link(app: Path, _: Path, outside: Path) -> None:
    (app / ".github" / "workflows").mkdir()
    os.symlink(outside / "secret.txt", app / ".github" / "workflows" / "autostack-build.yml")


def _dockerignore_link(app: Path, _: Path, outside: Path) -> None:
    os.symlink(outside / "secret.txt", app / ".dockerignore")


def _dot_dot(app: Path, _: Path, __: Path) -> None:
    _config(app, "path: ../outside/site\n")


def _absolute(app: Path, _: Path, outside: Path) -> None:
    _config(app, f"path: {outside / 'site'}\n")


def _gitops_apps_link(_: Path, gitops: Path, outside: Path) -> None:
    (gitops / "apps" / ".gitkeep").unlink()
    (gitops / "apps").rmdir()
    os.symlink(outside, gitops / "apps")


def _gitops_app_link(_: Path, gitops: Path, outside: Path) -> None:
    os.symlink(outside, gitops / "apps" / "app")


def _gitops_overlay_link(_: Path, gitops: Path, outside: Path) -> None:
    overlay = gitops / "apps" / "app" / "overlays" / "dev"
    overlay.mkdir(parents=True)
    os.symlink(outside / "secret.txt", overlay / "kustomization.yaml")


def _argocd_apps_link(_: Path, gitops: Path, outside: Path) -> None:
    (gitops / "argocd" / "apps" / ".gitkeep").unlink()
    (gitops / "argocd" / "apps").rmdir()
    os.symlink(outside, gitops / "argocd" / "apps")


def _gitops_config_link(_: Path, gitops: Path, outside: Path) -> None:
    (outside / "autostack.yaml").write_bytes((gitops / "autostack.yaml").read_bytes())
    (gitops / "autostack.yaml").unlink()
    os.symlink(outside / "autostack.yaml", gitops / "autostack.yaml")


CASES: dict[str, tuple[Setup, str]] = {
    "path: symlink out": (_path_link, "app/ext: symlink points outside the app directory"),
    "path: relative symlink out": (_relative_path_link, "app/ext: symlink points outside"),
    "path: through a symlinked parent": (_nested_path_link, "symlink points outside"),
    ".github/workflows symlink": (
        _workflows_link,
        "app/.github/workflows/autostack-build.yml: symlink points outside",
    ),
    ".github symlink": (_github_link, "symlink points outside"),
    ".github symlink with a config": (
        _github_link_with_config,
        "app/.github/autostack.yml: symlink points outside the app directory",
    ),
    "workflow file symlink": (_workflow_file_link, "autostack-build.yml: symlink points outside"),
    ".dockerignore symlink": (_dockerignore_link, ".dockerignore: symlink points outside"),
    "path: ..": (_dot_dot, "path: '../outside/site' must stay inside the repository"),
    "path: absolute": (_absolute, "is absolute; give a path relative to the repository root"),
    "gitops apps/ symlink": (_gitops_apps_link, "symlink points outside"),
    "gitops apps/<name> symlink": (_gitops_app_link, "gitops/apps/app/"),
    "gitops overlay symlink": (
        _gitops_overlay_link,
        "gitops/apps/app/overlays/dev/kustomization.yaml: symlink points outside",
    ),
    "gitops argocd/apps symlink": (_argocd_apps_link, "symlink points outside"),
    "gitops autostack.yaml symlink": (
        _gitops_config_link,
        "gitops/autostack.yaml: symlink points outside the GitOps repository",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_leaving_the_directory_is_refused_and_nothing_is_written(
    case: str, dirs: tuple[Path, Path, Path]
) -> None:
    app, gitops, outside = dirs
    setup, message = CASES[case]
    setup(app, gitops, outside)
    before = snapshot(app, gitops, outside)
    with pytest.raises(GeneratorError) as caught:
        result = generate(GenerateRequest(app_dir=app, gitops_dir=gitops, registry=REGISTRY))
        result.apply()  # only reached when planning wrongly let it through
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "do not read" not in str(caught.value)
    assert snapshot(app, gitops, outside) == before


@pytest.mark.parametrize("path", ["../outside/site", "/etc", "a/../../outside", "./x", "a\\b"])
def test_the_path_flag_is_checked_like_the_config(path: str, dirs: tuple[Path, Path, Path]) -> None:
    app, gitops, outside = dirs
    before = snapshot(app, gitops, outside)
    with pytest.raises(GeneratorError, match=r"^--path: "):
        generate(GenerateRequest(app_dir=app, gitops_dir=gitops, registry=REGISTRY, path=path))
    assert snapshot(app, gitops, outside) == before


def test_symlinks_that_stay_inside_are_followed(dirs: tuple[Path, Path, Path]) -> None:
    app, gitops, _ = dirs
    (app / "web").mkdir()
    (app / "web" / "index.html").write_text("<h1>web</h1>\n")
    os.symlink("web", app / "site")
    _config(app, "path: site\n")
    result = generate(GenerateRequest(app_dir=app, gitops_dir=gitops, registry=REGISTRY))
    result.apply()
    assert (app / "web" / "Dockerfile").is_file()
    assert (app / "site").is_symlink()


def test_the_cli_refuses_a_symlinked_workflows_directory(dirs: tuple[Path, Path, Path]) -> None:
    app, gitops, outside = dirs
    _workflows_link(app, gitops, outside)
    before = snapshot(app, gitops, outside)
    result = subprocess.run(
        [*AUTOSTACK, "generate", str(app), "--gitops", str(gitops), "--registry", REGISTRY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"autostack: error: {app}/.github/workflows/autostack-build.yml: "
        f"symlink points outside {app}"
    )
    assert snapshot(app, gitops, outside) == before


# -- any path at all ----------------------------------------------------------------------

PARTS = st.sampled_from(["a", "b", "..", ".", "", "out", "in", "loop", "x.yaml", "/", "\\"])
RELATIVE = st.lists(PARTS, min_size=1, max_size=6).map("/".join) | st.text(max_size=20)


@pytest.fixture(scope="module")
def maze(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A root with symlinks that lead out (``out``), stay in (``in``) and loop (``loop``),
    at the top and one level down, and an empty directory beside it."""
    base = tmp_path_factory.mktemp("maze")
    root, outside = base / "root", base / "outside"
    outside.mkdir()
    for folder in (root, root / "a"):
        folder.mkdir(parents=True, exist_ok=True)
        os.symlink(outside, folder / "out")
        os.symlink(root / "a", folder / "in")
        os.symlink("loop", folder / "loop")
    return root, outside


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rel=RELATIVE)
def test_any_path_resolves_inside_or_is_refused(maze: tuple[Path, Path], rel: str) -> None:
    root, _ = maze
    try:
        path = contained(root, rel)
    except GeneratorError as exc:
        assert "\n" not in str(exc)
        return
    real_root, real = root.resolve(), path.resolve()  # where it leads, links and all
    assert real == real_root or real_root in real.parents
    assert relative_path(rel, "x")  # only clean text gets this far


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rels=st.lists(RELATIVE, min_size=1, max_size=3))
def test_no_write_ever_lands_outside(maze: tuple[Path, Path], rels: list[str]) -> None:
    root, outside = maze
    before = snapshot(root)
    try:
        changeset.plan(root, {rel: b"x\n" for rel in rels}).apply()
    except GeneratorError:
        assert snapshot(root) == before  # a refusal writes nothing, not even a directory
    assert list(outside.iterdir()) == []
