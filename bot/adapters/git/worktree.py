"""The clone's work tree and object store at a finer grain than ``GitRepo``: read blobs,
write and stage files, commit, and revert commits without committing. ``GitRepo`` calls
these while it holds the repository lock, on a tree it has just reset."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.adapters.git.parsing import safe_path
from bot.adapters.git.runner import GitRunner, Result
from bot.core.errors import PermanentError, UserError

HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")


class WorkTree:
    """git commands run in one clone directory."""

    def __init__(self, runner: GitRunner, path: Path):
        self.runner = runner
        self.path = path

    def git(
        self,
        *args: str,
        what: str,
        network: bool = False,
        input: bytes | None = None,
        check: bool = True,
    ) -> Result:
        return self.runner.git(
            self.path, *args, what=what, network=network, input=input, check=check
        )

    def blob(self, rev: str, path: str) -> bytes | None:
        """One file from the object store (never the work tree), or None."""
        query = f"{rev}:{safe_path(path)}\n".encode()
        found = self.git("cat-file", "--batch", what="git cat-file", input=query).stdout
        header, _, rest = found.partition(b"\n")
        fields = header.split()
        if len(fields) != 3 or fields[1] != b"blob":
            return None  # "<name> missing", or a directory
        return rest[: int(fields[2])]

    def commit_sha(self, name: str) -> str | None:
        """The full sha of the commit ``name`` (a sha or a prefix of one), or None."""
        if not HEX.match(name):
            return None
        found = self.git(
            "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", what="git", check=False
        )
        return (found.text.strip() or None) if found.returncode == 0 else None

    def contains(self, descendant: str, ancestor: str) -> bool:
        probe = self.git(
            "merge-base", "--is-ancestor", ancestor, descendant, what="git merge-base", check=False
        )
        return probe.returncode == 0

    # -- edits -----------------------------------------------------------------------------

    def write(self, files: Mapping[str, bytes | None]) -> None:
        """Write (or, for None, delete) files in the work tree, never outside it."""
        for rel, content in files.items():
            target = self.path / safe_path(rel)
            if not target.parent.resolve().is_relative_to(self.path):
                raise PermanentError(f"refusing to write {rel!r} through a symbolic link")
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
            if content is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)

    def stage_all(self) -> bool:
        """Stage the whole tree (it was clean before our edits); True when it changed."""
        self.git("add", "--all", what="git add")
        staged = self.git("diff", "--cached", "--quiet", what="git diff", check=False)
        if staged.returncode not in (0, 1):
            raise self.runner.error("git diff", staged.stderr)
        return staged.returncode == 1 or self._unborn_with_files()

    def commit(self, message: str) -> str:
        """Commit the index with ``message`` (by stdin: no length limit, nothing in argv)."""
        self.git(
            "commit",
            "--quiet",
            "--no-verify",
            "--cleanup=whitespace",  # keep "#123" lines of a message
            "-F",
            "-",
            what="git commit",
            input=message.encode(),
        )
        return self.git("rev-parse", "HEAD", what="git rev-parse").text.strip()

    def _unborn_with_files(self) -> bool:
        # ``diff --cached`` against an unborn HEAD: any index entry is a change.
        if self.git("rev-parse", "--verify", "--quiet", "HEAD", what="git", check=False).text:
            return False
        return bool(self.git("ls-files", what="git ls-files").text.strip())

    # -- reverts ---------------------------------------------------------------------------

    def revert_all(self, shas: Sequence[str], base: str) -> bool:
        """``git revert --no-commit`` each of ``shas``, newest first, onto HEAD (the tip of
        ``base``); True when that changed anything. A conflict cleans up and raises."""
        head = self.git("rev-parse", "--verify", "--quiet", "HEAD", what="git", check=False)
        if head.returncode != 0:
            raise UserError(f"{base} has no commits to revert")
        for sha in self._newest_first(shas, head.text.strip()):
            args = ["revert", "--no-commit", "--no-edit"]
            if self._is_merge(sha):
                args += ["-m", "1"]  # undo what the merge brought into the mainline
            reverted = self.git(*args, sha, what="git revert", check=False)
            if reverted.returncode != 0:
                self._abort_revert(sha, reverted.stderr)
        staged = self.git("diff", "--cached", "--quiet", what="git diff", check=False)
        return staged.returncode == 1

    def _newest_first(self, shas: Sequence[str], head: str) -> list[str]:
        """Full shas ordered newest first; each must be a commit on the base."""
        distance: dict[str, int] = {}
        for given in dict.fromkeys(shas):
            full = self.commit_sha(given)
            if full is None or not self.contains(head, full):
                raise UserError(f"commit `{given[:12]}` is not on the GitOps branch to revert")
            count = self.git("rev-list", "--count", f"{full}..{head}", what="git rev-list")
            distance[full] = int(count.text.strip())
        return sorted(distance, key=distance.__getitem__)

    def _abort_revert(self, sha: str, stderr: str) -> None:
        conflicted = self.git(
            "diff", "--name-only", "-z", "--diff-filter=U", what="git diff", check=False
        ).text
        files = sorted(filter(None, conflicted.split("\0")))
        self.git("revert", "--abort", what="git revert --abort", check=False)
        self.git("reset", "--quiet", "--hard", "HEAD", what="git reset")
        self.git("clean", "-ffdxq", what="git clean")
        if not files:
            raise self.runner.error(f"git revert {sha[:12]}", stderr)
        raise UserError(
            f"reverting `{sha[:7]}` conflicts with later changes to "
            + ", ".join(f"`{name}`" for name in files),
            hint="roll back to a newer target, or revert by hand in the GitOps repository",
        )

    def _is_merge(self, sha: str) -> bool:
        parents = self.git("show", "-s", "--format=%P", sha, what="git show").text.split()
        return len(parents) > 1
