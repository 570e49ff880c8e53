"""``FakeGitRepo``: an in-memory ``GitRepoPort`` for unit tests of the handlers, recording
every call. A contract test runs the same scenarios against it and the real ``GitRepo``.

It differs from git in one way on purpose: a revert conflicts when a file the reverted
commit changed was changed again later (to anything but its state before that commit),
where git would still merge edits to distant lines. Handlers that must see git's exact
merge belong in tests with a real bare remote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.adapters.git.parsing import CommitInfo, matches, parse_log, safe_path
from bot.adapters.git.port import CommitResult, Edit
from bot.adapters.git.runner import Identity
from bot.core.errors import PermanentError, UserError

Tree = dict[str, bytes]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FakeCommit:
    sha: str
    parents: tuple[str, ...]
    tree: Mapping[str, bytes]
    message: str
    author: Identity


class FakeGitRepo:
    """Branches and commits in dictionaries; ``calls`` lists (operation, arguments...)."""

    def __init__(self, files: Mapping[str, bytes] | None = None, *, default_branch: str = "main"):
        self._default = default_branch
        self.commits: dict[str, FakeCommit] = {}
        self.branches: dict[str, str] = {}
        self.calls: list[tuple[object, ...]] = []
        if files:
            self.commit_as("Pat Person", dict(files), "initial commit")

    @property
    def default_branch(self) -> str:
        return self._default

    # -- helpers for tests -----------------------------------------------------------------

    def commit_as(self, name: str, files: Mapping[str, bytes | None], message: str) -> str:
        """Someone else's commit on the default branch."""
        tree = self._tree(self._default)
        _apply(tree, files)
        who = Identity(name, f"{name.lower().replace(' ', '.')}@example.com")
        return self._add(
            self._default, tree, message, who, _parents(self.branches.get(self._default))
        )

    # -- the port --------------------------------------------------------------------------

    def read_file(self, path: str, ref: str | None = None) -> bytes | None:
        self.calls.append(("read_file", path, ref))
        return self._tree(ref or self._default).get(safe_path(path))

    def list_dir(self, path: str, ref: str | None = None) -> list[str]:
        self.calls.append(("list_dir", path, ref))
        prefix = f"{safe_path(path)}/" if path.strip("/") else ""
        names = set()
        for name in self._tree(ref or self._default):
            if name.startswith(prefix):
                first, slash, _ = name[len(prefix) :].partition("/")
                names.add(first + slash)
        return sorted(names)

    def commit_files(
        self,
        files: Mapping[str, bytes | None] | None,
        message: str,
        branch: str | None = None,
        base: str | None = None,
        *,
        edit: Edit | None = None,
    ) -> CommitResult:
        self.calls.append(("commit_files", files, message, branch, base))
        if (files is None) == (edit is None):
            raise PermanentError("commit_files needs exactly one of files and edit")
        base = base or self._default
        tree = self._tree(base)
        wanted = files if edit is None else edit(lambda p: tree.get(safe_path(p)))
        _apply(tree, wanted or {})
        return self._land(tree, message, branch, base)

    def revert(
        self, shas: Sequence[str], message: str, branch: str | None = None, base: str | None = None
    ) -> CommitResult:
        self.calls.append(("revert", tuple(shas), message, branch, base))
        base = base or self._default
        tree = self._tree(base)
        for sha in self._newest_first(shas, base):
            commit = self.commits[sha]
            before = self.commits[commit.parents[0]].tree if commit.parents else {}
            # Git's trivial merge per file: already reverted is a no-op, changed since is a
            # conflict (git would still merge edits to distant lines; the fake does not).
            changed = [p for p in _changed(before, commit.tree) if tree.get(p) != before.get(p)]
            conflicts = [p for p in changed if tree.get(p) != commit.tree.get(p)]
            if conflicts:
                listed = ", ".join(f"`{p}`" for p in conflicts)
                raise UserError(f"reverting `{sha[:7]}` conflicts with later changes to {listed}")
            _apply(tree, {p: before.get(p) for p in changed})
        return self._land(tree, message, branch, base)

    def history(
        self,
        path_prefix: str,
        trailers_filter: Mapping[str, str] | None = None,
        *,
        ref: str | None = None,
        limit: int | None = None,
    ) -> list[CommitInfo]:
        self.calls.append(("history", path_prefix, trailers_filter, ref, limit))
        prefix = safe_path(path_prefix.strip("/")) if path_prefix.strip("/") else ""
        found = []
        for commit in self._first_parents(self.branches.get(ref or self._default)):
            before = self.commits[commit.parents[0]].tree if commit.parents else {}
            touched = _changed(before, commit.tree)
            if any(p == prefix or p.startswith(f"{prefix}/") or not prefix for p in touched):
                info = _info(commit)
                if matches(info, trailers_filter or {}):
                    found.append(info)
        return found[:limit] if limit is not None else found

    def head(self, branch: str | None = None) -> str | None:
        self.calls.append(("head", branch))
        return self.branches.get(branch or self._default)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        self.calls.append(("is_ancestor", ancestor, descendant))
        first, second = self._resolve(ancestor), self._resolve(descendant)
        if first is None or second is None:
            return False
        seen, todo = set(), [second]
        while todo:
            sha = todo.pop()
            if sha == first:
                return True
            if sha not in seen:
                seen.add(sha)
                todo.extend(self.commits[sha].parents)
        return False

    # -- internals -------------------------------------------------------------------------

    def _land(self, tree: Tree, message: str, branch: str | None, base: str) -> CommitResult:
        target = branch or base
        base_sha = self.branches.get(base)
        if tree == self._tree(base):
            return CommitResult(None, target)
        if target != base and target == self._default:
            raise PermanentError(f"refusing to force-push the default branch {target}")
        existing = self.branches.get(target)
        if target != base and existing is not None:
            old = self.commits[existing]
            same = old.parents == _parents(base_sha) and dict(old.tree) == tree
            if same and old.message.strip() == message.strip():
                return CommitResult(existing, target, pushed=False)
        sha = self._add(target, tree, message, Identity(), _parents(base_sha))
        return CommitResult(sha, target, pushed=True)

    def _add(
        self,
        branch: str,
        tree: Tree,
        message: str,
        author: Identity,
        parents: tuple[str, ...],
    ) -> str:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(repr((parents, sorted(tree.items()), message, len(self.commits))).encode())
        sha = digest.hexdigest()
        self.commits[sha] = FakeCommit(sha, parents, dict(tree), message, author)
        self.branches[branch] = sha
        return sha

    def _tree(self, ref: str) -> Tree:
        sha = self._resolve(ref)
        return dict(self.commits[sha].tree) if sha else {}

    def _resolve(self, ref: str) -> str | None:
        if ref in self.branches:
            return self.branches[ref]
        matching = [sha for sha in self.commits if sha.startswith(ref.lower())]
        return matching[0] if len(matching) == 1 and len(ref) >= 7 else None

    def _first_parents(self, sha: str | None) -> list[FakeCommit]:
        chain = []
        while sha:
            chain.append(self.commits[sha])
            sha = self.commits[sha].parents[0] if self.commits[sha].parents else None
        return chain

    def _newest_first(self, shas: Sequence[str], base: str) -> list[str]:
        chain = [c.sha for c in self._first_parents(self.branches.get(base))]
        resolved = []
        for given in dict.fromkeys(shas):
            sha = self._resolve(given)
            if sha is None or sha not in chain:
                raise UserError(f"commit `{given[:12]}` is not on the GitOps branch to revert")
            resolved.append(sha)
        return sorted(resolved, key=chain.index)


def _parents(sha: str | None) -> tuple[str, ...]:
    return (sha,) if sha else ()


def _changed(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[str]:
    return sorted(p for p in {*before, *after} if before.get(p) != after.get(p))


def _apply(tree: Tree, files: Mapping[str, bytes | None]) -> None:
    for path, content in files.items():
        clean = safe_path(path)
        for name in [n for n in tree if n == clean or n.startswith(f"{clean}/")]:
            del tree[name]  # a file replaces a directory, and None deletes either
        if content is not None:
            tree[clean] = content


def _info(commit: FakeCommit) -> CommitInfo:
    """The same value ``GitRepo.history`` builds, through the same parser."""
    fields = [
        commit.sha,
        " ".join(commit.parents),
        commit.author.name,
        commit.author.email,
        EPOCH.isoformat(),
        commit.message,
    ]
    return parse_log("\0".join(fields) + "\0")[0]
