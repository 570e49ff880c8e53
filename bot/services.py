"""The adapters a handler works with, built once per process and shared by the workers.

``Services`` holds the GitHub client (for the App, across installations), the GitOps
repository's clone, the Argo CD client when configured, and the reads every feature needs:
``autostack.yaml`` from the GitOps repo's default branch and which app a repository is.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bot.adapters.git import GitRepo
from bot.core.errors import PermanentError, UserError
from bot.ports import GitHub, RepoInfo
from bot.settings import Settings
from generators.config import CONFIG_FILE, GitOpsConfig, parse_config
from generators.errors import GeneratorError
from generators.naming import derive_app_name, is_app_name
from generators.yamlio import YAMLError, safe_load_all

SOURCE_REPO_ANNOTATION = "autostack.dev/source-repo"
APP_LABEL = "autostack.dev/app"


class Services:
    """Long-lived adapters; every method is safe to call from several worker threads."""

    def __init__(self, settings: Settings, github: GitHub, *, argocd: Any | None = None):
        if not settings.gitops_repo:
            raise PermanentError("AUTOSTACK_GITOPS_REPO is not set")
        self.settings = settings
        self.github = github
        self.argocd = argocd
        self.gitops_repo = settings.gitops_repo
        self._repos: dict[str, GitRepo] = {}
        self._infos: dict[str, RepoInfo] = {}
        self._lock = threading.Lock()

    def repo(self, full_name: str) -> RepoInfo:
        """The repository's API description, asked once per process: its clone URL, web URL
        and default branch do not change under a running bot often enough to re-ask."""
        with self._lock:
            info = self._infos.get(full_name)
        if info is None:
            info = self.github.repo(full_name)
            with self._lock:
                self._infos[full_name] = info
        return info

    def git(self, full_name: str) -> GitRepo:
        """The clone cache of ``full_name``, remote taken from the API's ``clone_url``."""
        with self._lock:
            repo = self._repos.get(full_name)
        if repo is not None:
            return repo
        info = self.repo(full_name)
        repo = GitRepo(
            full_name,
            info.clone_url,
            Path(self.settings.data_dir),  # the adapter keeps clones in repos/
            lambda: self.github.installation_token(full_name),
            default_branch=info.default_branch,
        )
        with self._lock:
            return self._repos.setdefault(full_name, repo)

    def gitops(self) -> GitRepo:
        return self.git(self.gitops_repo)

    def config(self) -> GitOpsConfig:
        """``autostack.yaml`` from the GitOps repo's default branch, never from a PR branch."""
        text = self.gitops().read_file(CONFIG_FILE)
        if text is None:
            raise UserError(
                f"{self.gitops_repo} has no {CONFIG_FILE} on its default branch; "
                "create it with `autostack init`"
            )
        try:
            return parse_config(text.decode("utf-8"), f"{self.gitops_repo}:{CONFIG_FILE}")
        except (GeneratorError, UnicodeDecodeError) as exc:
            raise UserError(f"the GitOps repository's policy file is invalid: {exc}") from exc

    def app_for_repo(self, full_name: str) -> str | None:
        """The app the GitOps repo deploys from ``full_name``: the Applications that carry
        its ``autostack.dev/source-repo`` annotation, else an app named like the repo."""
        gitops = self.gitops()
        derived = _derived(full_name)
        found: str | None = None
        for name in gitops.list_dir("argocd/apps"):
            if not name.endswith((".yaml", ".yml")):
                continue
            for obj in _documents(gitops.read_file(f"argocd/apps/{name}")):
                meta = obj.get("metadata") or {}
                source = (meta.get("annotations") or {}).get(SOURCE_REPO_ANNOTATION)
                app = (meta.get("labels") or {}).get(APP_LABEL)
                # The label becomes a path in the GitOps repository: only a valid app
                # name is taken from a file anyone may edit.
                if source and str(source).lower() == full_name.lower() and is_app_name(app):
                    return str(app)
                if app == derived:
                    found = derived
        if found is None and derived and gitops.list_dir(f"apps/{derived}/overlays"):
            found = derived
        return found


def _derived(full_name: str) -> str | None:
    try:
        return derive_app_name(full_name.rsplit("/", 1)[-1])
    except GeneratorError:
        return None


def _documents(data: bytes | None) -> list[dict[str, Any]]:
    if not data:
        return []
    try:
        return [d for d in safe_load_all(data.decode("utf-8")) if isinstance(d, dict)]
    except (YAMLError, UnicodeDecodeError):
        return []
