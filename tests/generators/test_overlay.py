"""User-owned overlays: regeneration keeps the user's file, and set_image is a one-line edit."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from generators.errors import GeneratorError
from generators.gitops import app_files
from generators.overlay import PLACEHOLDER_TAG, ensure_managed, get_image, set_image
from tests.support.gitops_cases import CONFIG, SPECS, nothing, reader, write_tree
from tests.support.k8s import render_overlay

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
PROD = "apps/web/overlays/prod/kustomization.yaml"
DEV = "apps/web/overlays/dev/kustomization.yaml"


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_tree(tmp_path, app_files(SPECS["web"], CONFIG, nothing))
    return tmp_path


def test_unchanged_overlays_come_back_byte_for_byte(repo: Path) -> None:
    again = app_files(SPECS["web"], CONFIG, reader(repo))
    for path, content in again.items():
        assert content == (repo / path).read_bytes(), path


def test_user_edits_survive_regeneration(repo: Path) -> None:
    text = (repo / PROD).read_text()
    text = text.replace("namespace: web-prod", "namespace: web-prod  # ours, keep it")
    text = set_image(text, "web", "ghcr.io/acme/web", SHA)
    text = text.replace(
        "patches:\n",
        "patches:\n"
        "  # raise memory in prod\n"
        "  - target:\n"
        "      kind: Deployment\n"
        "      name: web\n"
        "    patch: |-\n"
        "      - op: replace\n"
        "        path: /spec/template/spec/containers/0/resources/limits/memory\n"
        "        value: 2Gi\n",
    )
    (repo / PROD).write_text(text)
    dev = (repo / DEV).read_text().replace("count: 1", "count: 5")
    (repo / DEV).write_text(dev)

    again = app_files(SPECS["web"], CONFIG, reader(repo))
    assert again[PROD].decode() == text
    assert again[DEV].decode() == dev
    write_tree(repo, again)
    objects = render_overlay(repo / "apps/web/overlays/prod")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/acme/web:{SHA}"
    assert container["resources"]["limits"]["memory"] == "2Gi"
    dev_objects = render_overlay(repo / "apps/web/overlays/dev")
    assert next(o for o in dev_objects if o["kind"] == "Deployment")["spec"]["replicas"] == 5


def test_what_the_generator_needs_is_re_added_and_the_rest_kept(repo: Path) -> None:
    user = (
        "# my own overlay\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "replicas:\n"
        "- name: web   # pinned by hand\n"
        "  count: 7\n"
    )
    (repo / DEV).write_text(user)
    result = app_files(SPECS["web"], CONFIG, reader(repo))[DEV].decode()
    assert all(line.startswith("+") for line in changed_lines(user, result))
    assert "# pinned by hand" in result
    write_tree(repo, {DEV: result.encode()})
    objects = render_overlay(repo / "apps/web/overlays/dev")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "web-dev"
    assert deployment["spec"]["replicas"] == 7
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"ghcr.io/acme/web:{PLACEHOLDER_TAG}"
    )
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "web.dev.apps.example.com"
    # Once complete, the completed file is stable.
    assert app_files(SPECS["web"], CONFIG, reader(repo))[DEV].decode() == result


def test_the_hpa_choice_in_an_existing_overlay_drives_the_application(repo: Path) -> None:
    text = (repo / PROD).read_text()
    text = text.replace("components:\n  - ../../components/hpa\n", "")
    (repo / PROD).write_text(text)
    again = app_files(SPECS["web"], CONFIG, reader(repo))
    assert b"ignoreDifferences" not in again["argocd/apps/web-prod.yaml"]
    dev = (
        (repo / DEV)
        .read_text()
        .replace("resources:\n", "components:\n  - ../../components/hpa\nresources:\n")
    )
    (repo / DEV).write_text(dev)
    again = app_files(SPECS["web"], CONFIG, reader(repo))
    assert b"ignoreDifferences" in again["argocd/apps/web-dev.yaml"]


def test_set_image_changes_exactly_one_line(repo: Path) -> None:
    before = (repo / PROD).read_text()
    after = set_image(before, "web", "ghcr.io/acme/web", SHA)
    assert changed_lines(before, after) == [
        f"-    newTag: {PLACEHOLDER_TAG}",
        f"+    newTag: {SHA}",
    ]
    assert get_image(after, "web") == ("ghcr.io/acme/web", SHA)
    assert set_image(after, "web", "ghcr.io/acme/web", SHA) == after


def test_set_image_keeps_quotes_comments_and_flow_style() -> None:
    text = (
        "kind: Kustomization  # top\n"
        "images: [{name: other, newTag: v1},\n"
        "  {name: web, newName: 'ghcr.io/a/web', newTag: \"old\"}]\n"
        "# trailing\n"
    )
    result = set_image(text, "web", "ghcr.io/b/web", "abc123")
    assert result == text.replace("'ghcr.io/a/web'", "'ghcr.io/b/web'").replace('"old"', '"abc123"')
    assert get_image(result, "other") == ("other", "v1")


def test_a_numeric_looking_tag_is_quoted() -> None:
    text = "images:\n  - name: web\n    newName: r/web\n    newTag: v1 # keep\n"
    result = set_image(text, "web", "r/web", "1234567")
    assert result == text.replace("v1 #", '"1234567" #')
    assert get_image(result, "web") == ("r/web", "1234567")


def test_set_image_adds_a_missing_entry_or_list() -> None:
    text = "# overlay\nkind: Kustomization\nimages:\n  - name: other\n    newTag: v1\n"
    result = set_image(text, "web", "ghcr.io/acme/web", SHA)
    assert changed_lines(text, result) == [
        "+  - name: web",
        "+    newName: ghcr.io/acme/web",
        f"+    newTag: {SHA}",
    ]
    bare = "kind: Kustomization  # keep\n"
    assert get_image(set_image(bare, "web", "r/web", "t1"), "web") == ("r/web", "t1")
    assert set_image(bare, "web", "r/web", "t1").startswith(bare)


def test_set_image_drops_a_digest_that_would_win_over_the_tag() -> None:
    text = "images:\n  - name: web\n    newName: r/web\n    digest: sha256:" + "a" * 64 + "\n"
    result = set_image(text, "web", "r/web", "t2")
    assert "digest" not in result
    assert get_image(result, "web") == ("r/web", "t2")


def test_get_image_without_an_entry() -> None:
    assert get_image("kind: Kustomization\n", "web") is None
    assert get_image("images:\n  - name: other\n", "web") is None
    assert get_image("images:\n  - name: web\n", "web") == ("web", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images: [\n", "malformed YAML"),
        ("- just\n- a list\n", "must be a Kustomization mapping"),
        ("images: web\n", "images: must be a list"),
    ],
)
def test_malformed_overlays_are_generator_errors(text: str, message: str) -> None:
    with pytest.raises(GeneratorError, match=message) as caught:
        set_image(text, "web", "r/web", "t1", path="apps/web/overlays/dev/kustomization.yaml")
    assert str(caught.value).startswith("apps/web/overlays/dev/kustomization.yaml: ")
    with pytest.raises(GeneratorError, match=message):
        get_image(text, "web")


@pytest.mark.parametrize(
    ("name", "tag"),
    [("r/web", "bad tag"), ("r/web", "t\nkind: Secret"), ("R/Web", "t1"), ("r/web:1", "t1")],
)
def test_set_image_rejects_what_is_not_an_image(name: str, tag: str) -> None:
    with pytest.raises(GeneratorError):
        set_image("images: []\n", "web", name, tag)


def test_regeneration_of_a_malformed_overlay_names_the_file(repo: Path) -> None:
    (repo / DEV).write_text("images: [\n")
    with pytest.raises(GeneratorError, match=f"^{DEV}: malformed YAML"):
        app_files(SPECS["web"], CONFIG, reader(repo))


def test_ensure_managed_adds_the_ingress_patch_once() -> None:
    text = "kind: Kustomization\nnamespace: web-dev\nresources:\n  - ../../base\n"
    result = ensure_managed(
        text, app="web", namespace="web-dev", new_name="r/web", ingress_host="web.dev.x.io"
    )
    assert "value: web.dev.x.io" in result
    again = ensure_managed(
        result, app="web", namespace="web-dev", new_name="r/web", ingress_host="web.dev.x.io"
    )
    assert again == result
