"""Helpers to run the whole generator on an example app in a temporary workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from generators import initrepo
from generators.pipeline import GenerateRequest, GenerateResult, generate

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"
GOLDEN = Path(__file__).resolve().parent / "golden"
REPO_URL = "https://github.com/acme/gitops.git"
REGISTRY = "ghcr.io/acme"


def example_apps() -> list[str]:
    return sorted(p.name for p in APPS.iterdir() if p.is_dir())


def workspace(tmp: Path, example: str) -> tuple[Path, Path]:
    """A copy of the example app and a fresh GitOps repository, side by side."""
    app_dir = tmp / "app" / example
    shutil.copytree(APPS / example, app_dir, symlinks=True, ignore=_ignore)
    gitops = tmp / "gitops"
    initrepo.init_repository(gitops, repo_url=REPO_URL)
    return app_dir, gitops


def run_generate(app_dir: Path, gitops: Path, name: str) -> GenerateResult:
    result = generate(
        GenerateRequest(
            app_dir=app_dir, gitops_dir=gitops, registry=REGISTRY, name=name, source_repo=None
        )
    )
    result.apply()
    return result


def output_tree(result: GenerateResult) -> dict[str, bytes]:
    """Every file the generator wrote or would write, keyed ``app/...`` and ``gitops/...``."""
    tree: dict[str, bytes] = {}
    for label, changes in (("app", result.app_changes), ("gitops", result.gitops_changes)):
        for change in changes.changes:
            tree[f"{label}/{change.path}"] = change.new
    return tree


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {"expected.json"} & set(names)
