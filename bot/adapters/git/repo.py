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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.adapters.git.cache import CloneCache
from bot.adapters.git.parsing import (
    LOG_FORMAT,
    CommitInfo,
    matches,
    parse_log,
    parse_push,
    safe_path,
)
from bot.adapters.git.runner import DEFAULT_TIMEOUT, GitRunner, Identity, Result, RunFunction
from bot.core.errors import PermanentError, TransientError, UserError

Reader = Callable[[str], bytes | None]
# The files to write (None deletes), computed from what ``read`` sees on the fresh base.
Edit = Callable[[Reader], Mapping[str, bytes | None]]
REF_NAME = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<!\.lock)(?<![./])$")
HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
MAX_BACKOFF = 10.0


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

    # -- reading ---------------------------------------------------------------------------

    def read_file(self, path: str, ref: str | None = None) -> bytes | None:
        """The file at ``path`` on ``ref`` (a branch or a sha; default branch by default),
        or None when there is no such file."""
        with self._cache.locked():
            self._cache.fetch()
            rev = self._rev(ref)
            return None if rev is None else self._blob(rev, safe_path(path))

    def list_dir(self, path: str, ref: str | None = None) -> list[str]:
        """Entry names in the directory ``path`` ("" for the root), directories with a
        trailing ``/``; empty when the directory does not exist."""
        with self._cache.locked():
            self._cache.fetch()
            rev = self._rev(ref)
            if rev is None:
                return []
            treeish = f"{rev}:{safe_path(path)}" if path.strip("/") else rev
            listing = self._git("ls-tree", "-z", treeish, what="git ls-tree", check=False)
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
                    self._git("worktree", "prune", what="git worktree prune")
                    added = True
                    self._git(
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
                    self._git(
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
            if path_prefix.strip("/"):
                args += ["--", safe_path(path_prefix.strip("/"))]
            commits = parse_log(self._git(*args, what="git log").text)
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
            probe = self._git(
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
            wanted = files if edit is None else edit(lambda path: self._blob("HEAD", path))
            self._write(wanted or {})
            return self._stage_all()

        return self._land(apply, message, branch, base)

    def revert(
        self, shas: Sequence[str], message: str, branch: str | None = None, base: str | None = None
    ) -> CommitResult:
        """Revert ``shas`` (applied newest first) in one commit with ``message``, landing
        like ``commit_files``. A conflict leaves the clone clean and raises UserError."""
        if not shas:
            raise PermanentError("revert needs at least one commit")
        return self._land(lambda: self._revert_all(shas, base), message, branch, base)

    # -- landing ---------------------------------------------------------------------------

    def _land(
        self, apply: Callable[[], bool], message: str, branch: str | None, base: str | None
    ) -> CommitResult:
        with self._cache.locked():
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
                sha = self._commit(message)
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
        pushed = self._git(
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
        old = self._git("show", "-s", show, existing, what="git show", check=False).text
        now = self._git("show", "-s", show, new, what="git show").text
        return old.strip() == now.strip()

    def _commit(self, message: str) -> str:
        self._git(
            "commit",
            "--quiet",
            "--no-verify",
            "--cleanup=whitespace",  # keep "#123" lines of a message
            "-F",
            "-",
            what="git commit",
            input=message.encode(),
        )
        return self._git("rev-parse", "HEAD", what="git rev-parse").text.strip()

    def _delay(self, attempt: int) -> float:
        delay = min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1))
        return delay * (1 + random.random() / 2)  # jitter, so racing workers spread out

    # -- work tree edits -------------------------------------------------------------------

    def _write(self, files: Mapping[str, bytes | None]) -> None:
        root = self._cache.path
        for rel, content in files.items():
            target = root / safe_path(rel)
            if not target.parent.resolve().is_relative_to(root):
                raise PermanentError(f"refusing to write {rel!r} through a symbolic link")
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
            if content is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)

    def _stage_all(self) -> bool:
        """Stage the whole tree (it was clean before our edits); True when it changed."""
        self._git("add", "--all", what="git add")
        staged = self._git("diff", "--cached", "--quiet", what="git diff", check=False)
        if staged.returncode not in (0, 1):
            raise self._runner.error("git diff", staged.stderr)
        return staged.returncode == 1 or self._unborn_with_files()

    def _unborn_with_files(self) -> bool:
        # ``diff --cached`` against an unborn HEAD: any index entry is a change.
        if self._git("rev-parse", "--verify", "--quiet", "HEAD", what="git", check=False).text:
            return False
        return bool(self._git("ls-files", what="git ls-files").text.strip())

    def _revert_all(self, shas: Sequence[str], base: str | None) -> bool:
        base_sha = self._git("rev-parse", "--verify", "--quiet", "HEAD", what="git", check=False)
        if base_sha.returncode != 0:
            raise UserError(f"{self._branch_name(base)} has no commits to revert")
        for sha in self._newest_first(shas, base_sha.text.strip()):
            args = ["revert", "--no-commit", "--no-edit"]
            if self._is_merge(sha):
                args += ["-m", "1"]  # undo what the merge brought into the mainline
            reverted = self._git(*args, sha, what="git revert", check=False)
            if reverted.returncode != 0:
                self._abort_revert(sha, reverted.stderr)
        staged = self._git("diff", "--cached", "--quiet", what="git diff", check=False)
        return staged.returncode == 1

    def _newest_first(self, shas: Sequence[str], base_sha: str) -> list[str]:
        """Full shas ordered newest first; each must be a commit on the base."""
        distance: dict[str, int] = {}
        for given in dict.fromkeys(shas):
            full = self._rev(given) if HEX.match(given) else None
            if full is None or not self._contains(base_sha, full):
                raise UserError(f"commit `{given[:12]}` is not on the GitOps branch to revert")
            count = self._git("rev-list", "--count", f"{full}..{base_sha}", what="git rev-list")
            distance[full] = int(count.text.strip())
        return sorted(distance, key=distance.__getitem__)

    def _abort_revert(self, sha: str, stderr: str) -> None:
        conflicted = self._git(
            "diff", "--name-only", "-z", "--diff-filter=U", what="git diff", check=False
        ).text
        files = sorted(filter(None, conflicted.split("\0")))
        self._git("revert", "--abort", what="git revert --abort", check=False)
        self._git("reset", "--quiet", "--hard", "HEAD", what="git reset")
        self._git("clean", "-ffdxq", what="git clean")
        if not files:
            raise self._runner.error(f"git revert {sha[:12]}", stderr)
        raise UserError(
            f"reverting `{sha[:7]}` conflicts with later changes to "
            + ", ".join(f"`{name}`" for name in files),
            hint="roll back to a newer target, or revert by hand in the GitOps repository",
        )

    # -- small helpers ---------------------------------------------------------------------

    def _git(
        self,
        *args: str,
        what: str,
        network: bool = False,
        input: bytes | None = None,
        check: bool = True,
    ) -> Result:
        return self._runner.git(
            self._cache.path, *args, what=what, network=network, input=input, check=check
        )

    def _blob(self, rev: str, path: str) -> bytes | None:
        """One file from the object store (never the work tree), or None."""
        query = f"{rev}:{safe_path(path)}\n".encode()
        found = self._git("cat-file", "--batch", what="git cat-file", input=query).stdout
        header, _, rest = found.partition(b"\n")
        fields = header.split()
        if len(fields) != 3 or fields[1] != b"blob":
            return None  # "<name> missing", or a directory
        return rest[: int(fields[2])]

    def _rev(self, ref: str | None) -> str | None:
        """A commit sha for ``ref``: a remote branch first, else a commit name; or None."""
        name = self._branch_name(ref)
        branch_sha = self._cache.remote_sha(name)
        if branch_sha is not None or not HEX.match(name):
            return branch_sha
        found = self._git(
            "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", what="git", check=False
        )
        return (found.text.strip() or None) if found.returncode == 0 else None

    def _contains(self, descendant: str, ancestor: str) -> bool:
        probe = self._git(
            "merge-base", "--is-ancestor", ancestor, descendant, what="git merge-base", check=False
        )
        return probe.returncode == 0

    def _is_merge(self, sha: str) -> bool:
        parents = self._git("show", "-s", "--format=%P", sha, what="git show").text.split()
        return len(parents) > 1

    def _branch_name(self, name: str | None) -> str:
        name = name or self._cache.default_branch()
        if not REF_NAME.match(name):
            raise PermanentError(f"{name!r} is not a usable branch name")
        return name
