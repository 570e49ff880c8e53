"""The clone cache: one working clone per repository under ``<data_dir>/repos/<owner>/<name>``,
locked per repository and brought back to a known state before every operation.

The clone is full (all commits and blobs, no tags) rather than shallow: reverts need the
reverted commits and their parents, ``history`` walks the whole log of an overlay, and
``is_ancestor`` needs the graph, all of which a shallow clone would have to deepen on
demand. A GitOps repository is small YAML, so the full clone costs little once, and each
later ``fetch`` only brings what is new.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from bot.adapters.git.parsing import without_credentials
from bot.adapters.git.runner import GitRunner
from bot.core.errors import PermanentError

FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
UNBORN = "refs/heads/autostack-unborn"  # where a first commit of an empty repository is made
STATE_DIRS = ("rebase-merge", "rebase-apply", "sequencer")
STATE_FILES = ("MERGE_HEAD", "REVERT_HEAD", "CHERRY_PICK_HEAD", "MERGE_MSG", "AUTO_MERGE")
FALLBACK_BRANCH = "main"

_registry_lock = threading.Lock()
_thread_locks: dict[Path, threading.Lock] = {}


def _thread_lock(path: Path) -> threading.Lock:
    """One lock per clone directory for the whole process, shared by every ``CloneCache``."""
    with _registry_lock:
        return _thread_locks.setdefault(path, threading.Lock())


class CloneCache:
    """A working clone of ``url``; call its methods only inside ``locked()``."""

    def __init__(
        self,
        runner: GitRunner,
        data_dir: Path,
        full_name: str,
        url: str,
        default_branch: str | None = None,
    ):
        if not FULL_NAME.match(full_name) or any(p in (".", "..") for p in full_name.split("/")):
            raise PermanentError(f"{full_name!r} is not an owner/name repository name")
        self.runner = runner
        self.url = without_credentials(url)
        owner, name = full_name.split("/")
        self.path = (data_dir / "repos" / owner / name).resolve()
        self._lock_file = self.path.with_name(f"{name}.lock")
        self._default_branch = default_branch
        self._url_checked = False
        self._scope = threading.local()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the repository: a thread lock in this process, ``flock`` across processes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _thread_lock(self.path), open(self._lock_file, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def one_fetch(self) -> Iterator[None]:
        """Reads in this thread inside the block share one fetch: one network round trip
        per handler instead of one per read, and every read sees the same snapshot."""
        depth = getattr(self._scope, "depth", 0)
        if depth == 0:
            self._scope.fetched = False
        self._scope.depth = depth + 1
        try:
            yield
        finally:
            self._scope.depth = depth

    def fetch(self, *, force: bool = False) -> None:
        """Make sure the clone exists, clear what a crash left, and fetch every branch
        (unless a fetch already happened inside this thread's ``one_fetch`` block)."""
        scoped = getattr(self._scope, "depth", 0) > 0
        if scoped and not force and getattr(self._scope, "fetched", False):
            return
        self._fetch()
        if scoped:
            self._scope.fetched = True

    def _fetch(self) -> None:
        if not self._is_clone():
            self._clone()
        self._clear_leftovers()
        if not self._url_checked:
            self._follow_url()
        self.runner.git(
            self.path,
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "origin",
            what="git fetch",
            network=True,
        )

    def reset_to(self, branch: str, *, fetch: bool = True) -> str | None:
        """Fetch, then make the work tree exactly ``origin/branch`` (detached, clean); the
        branch's sha, or None when it does not exist yet (the tree is then empty)."""
        if fetch:
            self.fetch(force=True)
        else:
            self._clear_leftovers()
        sha = self.remote_sha(branch)
        git = self.runner.git
        if sha is None:
            git(self.path, "update-ref", "-d", UNBORN, what="git update-ref")
            git(self.path, "symbolic-ref", "HEAD", UNBORN, what="git symbolic-ref")
            git(self.path, "read-tree", "--empty", what="git read-tree")
        else:
            git(self.path, "checkout", "--quiet", "--force", "--detach", sha, what="git checkout")
            git(self.path, "reset", "--quiet", "--hard", sha, what="git reset")
        git(self.path, "clean", "-ffdxq", what="git clean")
        return sha

    def remote_sha(self, branch: str) -> str | None:
        """The sha of ``origin/branch`` as last fetched, or None."""
        found = self.runner.git(
            self.path,
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/remotes/origin/{branch}^{{commit}}",
            what="git rev-parse",
            check=False,
        )
        return (found.text.strip() or None) if found.returncode == 0 else None

    def default_branch(self) -> str:
        """The branch given at construction, else the remote's HEAD as of the clone."""
        if self._default_branch:
            return self._default_branch
        remote_head = self.runner.git(
            self.path,
            "symbolic-ref",
            "--quiet",
            "refs/remotes/origin/HEAD",
            what="git symbolic-ref",
            check=False,
        ).text.strip()
        prefix = "refs/remotes/origin/"
        if remote_head.startswith(prefix):
            self._default_branch = remote_head[len(prefix) :]
            return self._default_branch
        # An empty repository has no origin/HEAD; the clone's own unborn HEAD names it.
        local = self.runner.git(
            self.path, "symbolic-ref", "--quiet", "HEAD", what="git symbolic-ref", check=False
        ).text.strip()
        if local.startswith("refs/heads/") and local != UNBORN:
            return local[len("refs/heads/") :]
        return FALLBACK_BRANCH

    def _is_clone(self) -> bool:
        if not (self.path / ".git").is_dir():
            return False
        probe = self.runner.git(
            self.path, "rev-parse", "--git-dir", what="git rev-parse", check=False
        )
        return probe.returncode == 0

    def _clone(self) -> None:
        """Clone into a temporary sibling and rename it into place, so a clone cut short
        never looks like a usable cache."""
        temporary = self.path.with_name(f".{self.path.name}.cloning")
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(self.path, ignore_errors=True)
        self.runner.git(
            self.path.parent,
            "clone",
            "--quiet",
            "--no-tags",
            "--origin",
            "origin",
            "--",
            self.url,
            str(temporary),
            what="git clone",
            network=True,
        )
        temporary.rename(self.path)
        self._url_checked = True

    def _follow_url(self) -> None:
        """Point origin at the current clone URL (a renamed or moved repository)."""
        current = self.runner.git(
            self.path, "config", "--get", "remote.origin.url", what="git config", check=False
        ).text.strip()
        if current != self.url:
            self.runner.git(
                self.path, "remote", "set-url", "origin", self.url, what="git remote set-url"
            )
        self._url_checked = True

    def _clear_leftovers(self) -> None:
        """Remove what a crashed git left: lock files and half-done rebase/revert state.
        Safe because we hold the repository lock, so no git of ours runs here now."""
        git_dir = self.path / ".git"
        for stale in [*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")]:
            stale.unlink(missing_ok=True)
        for name in STATE_DIRS:
            shutil.rmtree(git_dir / name, ignore_errors=True)
        for name in STATE_FILES:
            (git_dir / name).unlink(missing_ok=True)
