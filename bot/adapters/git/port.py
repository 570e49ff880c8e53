"""The git adapter's port: what handlers may ask of the GitOps repository, and the values
they get back. ``GitRepo`` implements it over git; ``FakeGitRepo`` in memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.adapters.git.parsing import CommitInfo

Reader = Callable[[str], bytes | None]
# The files to write (None deletes), computed from what ``read`` sees on the fresh base.
Edit = Callable[[Reader], Mapping[str, bytes | None]]


@dataclass(frozen=True)
class CommitResult:
    """``sha`` None means there was nothing to change: no commit, no push, no branch."""

    sha: str | None
    branch: str  # where the change landed: the base for a direct landing, else the PR branch
    pushed: bool = False  # False also when the PR branch already held exactly this commit
    attempts: int = 1


class GitRepoPort(Protocol):
    """The role the handlers need: the GitOps repository, read and changed by commits."""

    @property
    def default_branch(self) -> str: ...

    def read_file(self, path: str, ref: str | None = None) -> bytes | None: ...

    def list_dir(self, path: str, ref: str | None = None) -> list[str]: ...

    def commit_files(
        self,
        files: Mapping[str, bytes | None] | None,
        message: str,
        branch: str | None = None,
        base: str | None = None,
        *,
        edit: Edit | None = None,
    ) -> CommitResult: ...

    def revert(
        self, shas: Sequence[str], message: str, branch: str | None = None, base: str | None = None
    ) -> CommitResult: ...

    def history(
        self,
        path_prefix: str,
        trailers_filter: Mapping[str, str] | None = None,
        *,
        ref: str | None = None,
        limit: int | None = None,
    ) -> list[CommitInfo]: ...

    def head(self, branch: str | None = None) -> str | None: ...

    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...
