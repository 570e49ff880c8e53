"""Rendering an overlay from its app's directory alone, and from the whole tree whenever the
kustomization reaches outside it: the same objects and the same errors either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.argocd.gitmirror import GitMirror
from sandbox.argocd.render import render_path
from tests.sandbox.argocd.gitops import GitopsRepo

SHARED_CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: common-settings
data:
  region: eu-west-1
"""


def _mirror(gitops: GitopsRepo, tmp_path: Path) -> tuple[GitMirror, str]:
    mirror = GitMirror(tmp_path / "mirror.git", gitops.url)
    mirror.fetch()
    return mirror, mirror.resolve("HEAD")


def _exports(monkeypatch: pytest.MonkeyPatch, mirror: GitMirror) -> list[str]:
    prefixes: list[str] = []
    original = mirror.export

    def recording(sha: str, dest: Path, prefix: str = "") -> None:
        prefixes.append(prefix)
        original(sha, dest, prefix)

    monkeypatch.setattr(mirror, "export", recording)
    return prefixes


def _kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((o["kind"], o["metadata"]["name"]) for o in objects)


def test_an_overlay_is_built_from_its_app_directory(
    gitops: GitopsRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, sha = _mirror(gitops, tmp_path)
    exports = _exports(monkeypatch, mirror)
    rendered = render_path(mirror, sha, "apps/web/overlays/dev")
    assert rendered.error is None
    assert _kinds(rendered.objects) == [("Deployment", "web"), ("Service", "web")]
    assert exports == ["apps/web"]


def test_a_kustomization_reaching_outside_is_built_from_the_whole_tree(
    gitops: GitopsRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops.write("common/settings/configmap.yaml", SHARED_CONFIG)
    gitops.write("common/settings/kustomization.yaml", "resources:\n  - configmap.yaml\n")
    path = "apps/web/overlays/dev/kustomization.yaml"
    text = (gitops.work / path).read_text()
    shared = "resources:\n  - ../../../../common/settings\n"
    gitops.write(path, text.replace("resources:\n", shared))
    gitops.commit("Share settings between apps")
    mirror, sha = _mirror(gitops, tmp_path)
    exports = _exports(monkeypatch, mirror)
    rendered = render_path(mirror, sha, "apps/web/overlays/dev")
    assert rendered.error is None, rendered.error
    assert ("ConfigMap", "common-settings") in _kinds(rendered.objects)
    assert exports == ["apps/web", ""]


def test_a_broken_kustomization_reports_the_whole_trees_error(
    gitops: GitopsRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops.write("apps/web/overlays/dev/kustomization.yaml", "resources:\n  - ../missing\n")
    gitops.commit("Break the overlay")
    mirror, sha = _mirror(gitops, tmp_path)
    exports = _exports(monkeypatch, mirror)
    rendered = render_path(mirror, sha, "apps/web/overlays/dev")
    assert exports == ["apps/web", ""]
    assert rendered.source_type == "Kustomize"
    assert rendered.error is not None
    assert rendered.error.startswith("`kustomize build apps/web/overlays/dev` failed exit status")
    assert "argocd-render-" not in rendered.error  # repo-relative, wherever it was built
