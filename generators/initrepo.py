"""``autostack init``: a GitOps repository from ``gitops-skeleton/``, committed with git."""

from __future__ import annotations

import re
from pathlib import Path

from generators import changeset, tools
from generators.config import CONFIG_FILE, parse_config
from generators.errors import GeneratorError
from generators.paths import read_text_contained
from generators.skeleton import skeleton_files

REPO_URL = re.compile(r"^(https?://|ssh://|git@[^:\s]+:|file://)\S+\Z")
INIT_MESSAGE = "Initialise the GitOps repository\n\nCreated by `autostack init`."


def init_repository(directory: Path, *, repo_url: str | None, force: bool = False) -> str:
    """Create (or verify) a GitOps repository in ``directory``; return a summary line.

    Re-running on an initialised repository validates its autostack.yaml and changes
    nothing. A non-empty directory is refused unless ``force``, and even then no existing
    file is overwritten.
    """
    if directory.exists() and not directory.is_dir():
        raise GeneratorError(directory, "exists and is not a directory")
    existing = read_text_contained(directory, CONFIG_FILE, str(directory))
    if existing is not None:
        parse_config(existing, str(directory / CONFIG_FILE))
        return f"{directory} is already an AutoStack GitOps repository; nothing changed"
    if _non_empty(directory) and not force:
        raise GeneratorError(
            directory, "is not empty", hint="use --force to add the GitOps files to it"
        )
    url = repo_url or (tools.git_origin_url(directory) if directory.is_dir() else None)
    if not url:
        raise GeneratorError(
            "--repo-url", "is required: the URL Argo CD clones this repository from"
        )
    if not REPO_URL.match(url):
        raise GeneratorError("--repo-url", f"{url!r} is not a git URL (https://, ssh:// or git@)")
    directory.mkdir(parents=True, exist_ok=True)
    files = skeleton_files(url)
    plan = changeset.plan(directory, files)
    missing = {c.path: c.new for c in plan.changes if c.old is None}
    changeset.write_atomically(directory, missing)
    sha = tools.git_commit_all(directory, INIT_MESSAGE)
    made = f" (commit {sha[:12]})" if sha else ""
    return f"Initialised GitOps repository {directory}: {len(missing)} files{made}"


def _non_empty(directory: Path) -> bool:
    return directory.is_dir() and any(p.name != ".git" for p in directory.iterdir())
