"""The app repository as GitHub holds it, for handler tests that look at its branches: a
bare repository the bot's clone fetches, a work tree to commit in, and the fake GitHub's
``resolve_ref`` answered from the bare repository as GitHub would (a branch, a tag, a sha or
any other ref of its store, a fork's pull request refs included)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from bot.ports import NotFound
from tests.bot.watch.harness import git
from tests.fakes.github import Call, FakeGitHub


class AppRepository:
    def __init__(self, root: Path, github: FakeGitHub, full_name: str):
        self.bare, self.work = root / "app.git", root / "app-work"
        self.github, self.full_name = github, full_name
        git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        git(root, "init", "--quiet", "--initial-branch=main", str(self.work))
        git(self.work, "remote", "add", "origin", self.bare.as_uri())
        info = github.repos[full_name.lower()]
        github.repos[full_name.lower()] = replace(info, clone_url=self.bare.as_uri())
        github.resolve_ref = self.resolve_ref  # type: ignore[method-assign]

    def commit(self, name: str, *, branch: str = "main", start: str | None = None) -> str:
        """Commit a file ``name`` on ``branch`` (made from ``start`` if new); its sha. Nothing
        reaches GitHub until ``push``."""
        if branch != git(self.work, "branch", "--show-current"):
            if git(self.work, "branch", "--list", branch):
                git(self.work, "checkout", "--quiet", branch)
            else:
                git(self.work, "checkout", "--quiet", "-b", branch, *([start] if start else []))
        (self.work / name).write_text(f"{name}\n")
        git(self.work, "add", name)
        git(self.work, "commit", "--quiet", "-m", name)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, branch: str, ref: str | None = None) -> None:
        """Push ``branch`` to the branch of that name, or to ``ref`` (``refs/pull/12/head``)."""
        git(self.work, "push", "--quiet", "origin", f"{branch}:{ref or f'refs/heads/{branch}'}")

    def resolve_ref(self, repo: str, ref: str) -> str:
        self.github.calls.append(Call("resolve_ref", (repo, ref)))
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            found = subprocess.run(
                ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                cwd=self.bare,
                capture_output=True,
                text=True,
            )
            if found.returncode == 0:
                return found.stdout.strip()
        raise NotFound(f"GitHub answered 404 to resolve {ref} in {repo}")
