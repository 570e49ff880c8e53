"""``GitRepo``: the GitOps repository as the bot sees it, read, committed to, reverted and
searched through the ``git`` CLI over a clone cache, returning plain values only.

Changes land one of two ways. *Direct*: one commit on top of ``base``, pushed without
force. *PR branch*: ``branch`` is set to ``base`` plus one commit and force-updated (with a
lease), so re-running updates the same branch instead of stacking commits. A push that
loses a race is retried on the fresh base, re-applying the change, a few times with
backoff. The default branch is never force-pushed and history is never rewritten.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from bot.adapters.git.cache import CloneCache
from bot.adapters.git.parsing import (
    LOG_FORMAT,
    CommitInfo,
    matches,
    parse_log,
    parse_push,
    safe_path,
)
from bot.adapters.git.port import CommitResult, Edit
from bot.adapters.git.runner import DEFAULT_TIMEOUT, GitRunner, Identity, RunFunction
from bot.adapters.git.worktree import WorkTree
from bot.core.errors import PermanentError, TransientError

REF_NAME = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<!\.lock)(?<![./])$")
MAX_BACKOFF = 10.0


class GitRepo:
    """One repository's clone cache and the operations on it; safe to share between
    threads and processes (every operation holds the repository's lock)."""

    def __init__(
        self,
        full_name: str,
        clone_url: str,
        data_dir: Path,
        token_provider: Callable[[], str],
        *,
        default_branch: str | None = None,
        identity: Identity | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        run: RunFunction | None = None,
    ):
        self.full_name = full_name
        self._runner = GitRunner(
            data_dir,
            token_provider,
            identity=identity,
            timeout=timeout,
            run=run,
            label=full_name,
        )
        self._cache = CloneCache(self._runner, data_dir, full_name, clone_url, default_branch)
        self._tree = WorkTree(self._runner, self._cache.path)
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._sleep = sleep

    @property
    def path(self) -> Path:
        """The working clone (for diagnostics; the cache owns it)."""
        return self._cache.path

    @property
    def default_branch(self) -> str:
        with self._cache.locked():
            self._cache.fetch()
            return self._cache.default_branch()

    def one_fetch(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, this thread's reads share one ``git fetch`` (see CloneCache)."""
        return self._cache.one_fetch()

    # -- reading ---------------------------------------------------------------------------

    def read_file(self, path: str, ref: str | None = None) -> bytes | None:
        """The file at ``path`` on ``ref`` (a branch or a sha; default branch by default),
        or None when there is no such file."""
        with self._cache.locked():
            self._cache.fetch()
            rev = self._rev(ref)
            return None if rev is None else self._tree.blob(rev, safe_path(path))

    def list_dir(self, path: str, ref: str | None = None) -> list[str]:
        """Entry names in the directory ``path`` ("" for the root), directories with a
        trailing ``/``; empty when the directory does not exist."""
        with self._cache.locked():
            self._cache.fetch()
            rev = self._rev(ref)
            if rev is None:
                return []
            treeish = f"{rev}:{safe_path(path)}" if path.strip("/") else rev
            listing = self._tree.git("ls-tree", "-z", treeish, what="git ls-tree", check=False)
            if listing.returncode != 0:
                return []
            names = []
            for entry in filter(None, listing.text.split("\0")):
                meta, _, name = entry.partition("\t")
                names.append(f"{name}/" if meta.split()[1] == "tree" else name)
            return sorted(names)

    @contextlib.contextmanager
    def export(self, ref: str | None = None) -> Iterator[Path]:
        """A checkout of ``ref`` (default branch by default) in a temporary directory that
        is removed on exit: read it, never write it. Empty when the branch has no commits.

        A detached ``git worktree`` rather than ``git archive``: a checkout is what a build
        sees, while an archive leaves out ``export-ignore`` files and rewrites
        ``export-subst`` ones. The repository lock is held only to add and remove it.
        """
        scratch = Path(tempfile.mkdtemp(prefix="autostack-export-"))
        tree = scratch / "tree"
        added = False
        try:
            with self._cache.locked():
                self._cache.fetch()
                rev = self._rev(ref)
                if rev is None and ref is not None:
                    raise PermanentError(f"{self.full_name}: no branch or commit {ref!r}")
                if rev is None:
                    tree.mkdir()
                else:
                    self._tree.git("worktree", "prune", what="git worktree prune")
                    added = True
                    self._tree.git(
                        "worktree",
                        "add",
                        "--quiet",
                        "--detach",
                        str(tree),
                        rev,
                        what="git worktree add",
                    )
            yield tree
        finally:
            if added:
                with self._cache.locked():
                    self._tree.git(
                        "worktree",
                        "remove",
                        "--force",
                        "--force",
                        str(tree),
                        what="git worktree remove",
                        check=False,
                    )
            shutil.rmtree(scratch, ignore_errors=True)

    def history(
        self,
        path_prefix: str,
        trailers_filter: Mapping[str, str] | None = None,
        *,
        ref: str | None = None,
        limit: int | None = None,
    ) -> list[CommitInfo]:
        """Commits on ``ref`` touching ``path_prefix``, newest first, keeping those whose
        trailers include every ``key: value`` of ``trailers_filter``."""
        with self._cache.locked():
            self._cache.fetch()
            rev = self._rev(ref)
            if rev is None:
                return []
            args = ["log", "-z", f"--format={LOG_FORMAT}", rev]
            if limit is not None and not trailers_filter:
                # Nothing to filter afterwards: git stops at ``limit`` instead of reading the
                # whole history of the path.
                args.insert(1, f"--max-count={max(limit, 0)}")
            if path_prefix.strip("/"):
                args += ["--", safe_path(path_prefix.strip("/"))]
            commits = parse_log(self._tree.git(*args, what="git log").text)
        wanted = trailers_filter or {}
        found = [commit for commit in commits if matches(commit, wanted)]
        return found[:limit] if limit is not None else found

    def head(self, branch: str | None = None) -> str | None:
        """The sha at the tip of ``branch`` (default branch by default), None if absent."""
        with self._cache.locked():
            self._cache.fetch()
            return self._cache.remote_sha(self._branch_name(branch))

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``descendant`` contains ``ancestor`` (equal counts); an unknown commit
        is nobody's descendant."""
        with self._cache.locked():
            self._cache.fetch()
            first, second = self._rev(ancestor), self._rev(descendant)
            if first is None or second is None:
                return False
            probe = self._tree.git(
                "merge-base", "--is-ancestor", first, second, what="git merge-base", check=False
            )
            return probe.returncode == 0

    # -- changing --------------------------------------------------------------------------

    def commit_files(
        self,
        files: Mapping[str, bytes | None] | None,
        message: str,
        branch: str | None = None,
        base: str | None = None,
        *,
        edit: Edit | None = None,
    ) -> CommitResult:
        """Commit ``files`` (None deletes a path) on ``base``, landing on ``base`` directly
        or on the PR ``branch``. Pass ``edit`` instead when the change depends on what is
        there: it is run again on the fresh base after a lost push race."""
        if (files is None) == (edit is None):
            raise PermanentError("commit_files needs exactly one of files and edit")

        def apply() -> bool:
            wanted = files if edit is None else edit(lambda path: self._tree.blob("HEAD", path))
            self._tree.write(wanted or {})
            return self._tree.stage_all()

        return self._land(apply, message, branch, base)

    def revert(
        self, shas: Sequence[str], message: str, branch: str | None = None, base: str | None = None
    ) -> CommitResult:
        """Revert ``shas`` (applied newest first) in one commit with ``message``, landing
        like ``commit_files``. A conflict leaves the clone clean and raises UserError."""
        if not shas:
            raise PermanentError("revert needs at least one commit")
        return self._land(
            lambda: self._tree.revert_all(shas, self._branch_name(base)), message, branch, base
        )

    # -- landing ---------------------------------------------------------------------------

    def _land(
        self, apply: Callable[[], bool], message: str, branch: str | None, base: str | None
    ) -> CommitResult:
        with self._cache.locked():
            # Inside one_fetch this reuses the handler's snapshot; if someone pushed since,
            # the push is rejected and the retry below fetches what won the race.
            self._cache.fetch()
            base_name = self._branch_name(base)
            target = self._branch_name(branch) if branch else base_name
            force = target != base_name
            if force and target == self._cache.default_branch():
                raise PermanentError(f"refusing to force-push the default branch {target}")
            for attempt in range(1, self._max_attempts + 1):
                # The first attempt uses the fetch above; a retry needs what won the race.
                self._cache.reset_to(base_name, fetch=attempt > 1)
                if not apply():
                    return CommitResult(None, target, pushed=False, attempts=attempt)
                sha = self._tree.commit(message)
                lease = self._cache.remote_sha(target) if force else None
                if lease is not None and self._same_commit(lease, sha):
                    return CommitResult(lease, target, pushed=False, attempts=attempt)
                if self._push(sha, target, force=force, lease=lease):
                    return CommitResult(sha, target, pushed=True, attempts=attempt)
                if attempt < self._max_attempts:
                    self._sleep(self._delay(attempt))
            raise TransientError(
                f"{self.full_name}: pushing to {target} lost the race {self._max_attempts} times",
                retry_after=self._delay(self._max_attempts),
            )

    def _push(self, sha: str, target: str, *, force: bool, lease: str | None) -> bool:
        """Push ``sha`` to ``target``; False when someone else moved the branch first."""
        ref = f"refs/heads/{target}"
        args = ["push", "--porcelain"]
        if force:
            # Only ever a PR branch: overwrite what we last saw there, nothing newer.
            args.append(f"--force-with-lease={ref}:{lease or ''}")
        pushed = self._tree.git(
            *args, "origin", f"{sha}:{ref}", what=f"git push to {target}", network=True, check=False
        )
        outcome = parse_push(pushed.text, ref, pushed.stderr)
        if outcome.ok and pushed.returncode == 0:
            return True
        if outcome.race:
            return False
        raise self._runner.error(f"git push to {target}", f"{outcome.reason}\n{pushed.stderr}")

    def _same_commit(self, existing: str, new: str) -> bool:
        """Whether the PR branch already holds this change: same parent, tree and message
        (``new`` sits on the fresh base, so an equal parent means an up-to-date branch)."""
        show = "--format=%P%x00%T%x00%B"
        old = self._tree.git("show", "-s", show, existing, what="git show", check=False).text
        now = self._tree.git("show", "-s", show, new, what="git show").text
        return old.strip() == now.strip()

    def _delay(self, attempt: int) -> float:
        delay = min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1))
        return delay * (1 + random.random() / 2)  # jitter, so racing workers spread out

    # -- small helpers ---------------------------------------------------------------------

    def _rev(self, ref: str | None) -> str | None:
        """A commit sha for ``ref``: a remote branch first, else a commit name; or None."""
        name = self._branch_name(ref)
        return self._cache.remote_sha(name) or self._tree.commit_sha(name)

    def _branch_name(self, name: str | None) -> str:
        name = name or self._cache.default_branch()
        if not REF_NAME.match(name):
            raise PermanentError(f"{name!r} is not a usable branch name")
        return name
