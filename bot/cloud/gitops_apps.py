"""The apps of a GitOps repository checkout, with what ``autostack aws setup`` needs of each:
the source repository and the image its overlays deploy.

``autostack generate`` records the source repository as the ``autostack.dev/source-repo``
annotation of the app's Argo CD Applications (``argocd/apps/<app>-<env>.yaml``), and the
image as the ``images:`` entry named ``<app>`` in each ``apps/<app>/overlays/<env>/``.
Reads files only; parsing is plain PyYAML, nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.cloud.desired import AppTarget, SetupInputError

APP_LABEL = "autostack.dev/app"
SOURCE_ANNOTATION = "autostack.dev/source-repo"
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class GitOpsApp:
    app: str
    source_repos: tuple[str, ...]  # as recorded by its Applications (one, normally)
    images: tuple[str, ...]  # newName of its overlays' images entry


def read_apps(directory: Path) -> list[GitOpsApp]:
    """Every ``apps/<app>/`` of the checkout at ``directory``."""
    apps_dir = directory / "apps"
    if not apps_dir.is_dir():
        raise SetupInputError(f"{directory} has no apps/ folder: is it a GitOps repository?")
    sources = _sources(directory / "argocd")
    found = []
    for app_dir in sorted(p for p in apps_dir.iterdir() if p.is_dir()):
        app = app_dir.name
        found.append(GitOpsApp(app, tuple(sorted(sources.get(app, set()))), _images(app_dir, app)))
    return found


def targets(
    apps: Sequence[GitOpsApp], *, only: str | None = None, repo: str | None = None
) -> list[AppTarget]:
    """The apps to set up; ``only`` picks one, ``repo`` stands in for an unrecorded source."""
    chosen = [a for a in apps if only is None or a.app == only]
    if only is not None and not chosen:
        names = ", ".join(a.app for a in apps) or "none"
        raise SetupInputError(f"the GitOps repository has no app {only!r} (its apps: {names})")
    if repo is not None and only is None and len(chosen) > 1:
        raise SetupInputError("--repo with --gitops needs --app: which app does it build?")
    result, unrecorded = [], []
    for app in chosen:
        if len(app.source_repos) > 1 and repo is None:
            raise SetupInputError(
                f"the Applications of {app.app} name several source repositories "
                f"({', '.join(app.source_repos)}): pass --app {app.app} --repo OWNER/NAME"
            )
        source = repo or (app.source_repos[0] if app.source_repos else None)
        if source is None:
            unrecorded.append(app.app)
            continue
        images = set(app.images)
        if len(images) > 1:
            raise SetupInputError(
                f"the overlays of {app.app} deploy different images ({', '.join(sorted(images))})"
                ": make them one registry first"
            )
        result.append(AppTarget(app.app, source, next(iter(images), None)))
    if unrecorded:
        raise SetupInputError(
            f"no source repository is recorded for {', '.join(unrecorded)} (the "
            f"{SOURCE_ANNOTATION} annotation of argocd/apps/<app>-<env>.yaml): run "
            "autostack aws setup --gitops DIR --app APP --repo OWNER/NAME for each, or "
            "regenerate them with autostack generate --source-repo OWNER/NAME"
        )
    return result


def _sources(argocd_dir: Path) -> dict[str, set[str]]:
    sources: dict[str, set[str]] = {}
    if not argocd_dir.is_dir():
        return sources
    for path in sorted(argocd_dir.rglob("*.y*ml")):
        for doc in _documents(path):
            if doc.get("kind") != "Application":
                continue
            meta = doc.get("metadata") or {}
            app = (meta.get("labels") or {}).get(APP_LABEL)
            source = (meta.get("annotations") or {}).get(SOURCE_ANNOTATION)
            if isinstance(app, str) and isinstance(source, str) and source:
                sources.setdefault(app, set()).add(source)
    return sources


def _images(app_dir: Path, app: str) -> tuple[str, ...]:
    images = set()
    for path in sorted((app_dir / "overlays").glob("*/kustomization.y*ml")):
        for doc in _documents(path):
            for entry in doc.get("images") or []:
                if isinstance(entry, dict) and entry.get("name") == app and entry.get("newName"):
                    images.add(str(entry["newName"]))
    return tuple(sorted(images))


def _documents(path: Path) -> list[dict[str, Any]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        return []
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SetupInputError(f"{path}: not readable YAML ({exc.__class__.__name__})") from None
    return [d for d in docs if isinstance(d, dict)]
