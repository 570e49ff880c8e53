"""Render an Application's source path at a commit, like Argo CD's repo server.

A path with a kustomization is built with the real ``kubectl kustomize``; any other path is
read as a directory of plain YAML manifests (Argo CD's "Directory" source type).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.argocd.gitmirror import GitMirror, RepoError
from sandbox.argocd.manifests import ManifestError, load_documents, validate_objects

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class Rendered:
    """The outcome of one render: objects, or the error Argo CD would report."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    source_type: str = "Directory"
    error: str | None = None


def render_path(mirror: GitMirror, sha: str, path: str, recurse: bool = False) -> Rendered:
    # Writing out a repository of many apps costs far more than building one of them, so
    # the path's neighbourhood (an overlay's app, which holds its base) is tried first. A
    # kustomization that reads anything outside it fails there (kustomize never skips a
    # missing input), and is built again from the whole tree: same output, same errors.
    nearby = _neighbourhood(path)
    if nearby:
        rendered = _render(mirror, sha, path, recurse, nearby)
        if rendered.error is None:
            return rendered
    return _render(mirror, sha, path, recurse, "")


def _neighbourhood(path: str) -> str:
    """Two directories up from ``path`` (``apps/web`` for ``apps/web/overlays/dev``), or ""
    when that is the whole repository anyway."""
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    return "/".join(parts[:-2]) if len(parts) > 2 else ""


def _render(mirror: GitMirror, sha: str, path: str, recurse: bool, prefix: str) -> Rendered:
    with tempfile.TemporaryDirectory(prefix="argocd-render-") as tmp:
        root = Path(tmp)
        try:
            mirror.export(sha, root, prefix)
        except RepoError as exc:
            return Rendered(error=f"failed to check out {sha}: {exc}")
        app_dir = root / path.strip("/") if path.strip("/") not in ("", ".") else root
        if not app_dir.is_dir():
            return Rendered(error=f"{path}: app path does not exist")
        if any((app_dir / name).exists() for name in KUSTOMIZATION_FILES):
            return _kustomize(app_dir, root, path)
        return _directory(app_dir, recurse)


def _kustomize(app_dir: Path, root: Path, path: str) -> Rendered:
    proc = subprocess.run(
        ["kubectl", "kustomize", str(app_dir)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        # Argo CD reports repo-relative paths, not where the checkout happened to be.
        stderr = proc.stderr.strip().replace(str(root) + "/", "")
        return Rendered(
            source_type="Kustomize",
            error=f"`kustomize build {path}` failed exit status {proc.returncode}: {stderr}",
        )
    return _checked(proc.stdout, "Kustomize")


def _directory(app_dir: Path, recurse: bool) -> Rendered:
    pattern = "**/*" if recurse else "*"
    texts = [
        p.read_text()
        for p in sorted(app_dir.glob(pattern))
        if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
    ]
    return _checked("\n---\n".join(texts), "Directory")


def _checked(text: str, source_type: str) -> Rendered:
    try:
        docs = load_documents(text)
    except ManifestError as exc:
        return Rendered(source_type=source_type, error=f"failed to unmarshal manifests: {exc}")
    problems = validate_objects(docs)
    if problems:
        return Rendered(source_type=source_type, error="; ".join(problems))
    return Rendered(objects=docs, source_type=source_type)
