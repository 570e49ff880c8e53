"""The external program the CLI runs around the pure generators: git.

Arguments are passed as lists (never through a shell); nothing secret is ever an argument.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from generators.errors import GeneratorError

# Commits made by `autostack init` must not depend on the user's git identity being set.
_IDENTITY = ("-c", "user.name=AutoStack", "-c", "user.email=autostack@users.noreply.github.com")


def _run(args: list[str], cwd: Path, what: str) -> str:
    try:
        result = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError as exc:
        raise GeneratorError(None, f"{args[0]} is not installed; it is needed to {what}") from exc
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[:300]
        raise GeneratorError(cwd, f"{what} failed: {detail}")
    return result.stdout


def is_git_repo(path: Path) -> bool:
    return (path / ".git").exists()


def git_origin_url(path: Path) -> str | None:
    if not is_git_repo(path):
        return None
    result = subprocess.run(
        ["git", "-C", str(path), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def git_commit_all(path: Path, message: str, branch: str = "main") -> str | None:
    """``git init`` if needed, then commit every change; returns the new sha or None."""
    if not is_git_repo(path):
        _run(["git", "init", "-q", "-b", branch], path, "git init")
    _run(["git", "add", "-A"], path, "git add")
    status = _run(["git", "status", "--porcelain"], path, "git status")
    if not status.strip():
        return None
    _run(["git", *_IDENTITY, "commit", "-q", "-m", message], path, "git commit")
    return _run(["git", "rev-parse", "HEAD"], path, "git rev-parse").strip()
