"""Which GitOps commit contains which, answered from the default branch's commit graph held
in memory: commits never change, so one ``git log`` answers every question of a pass
instead of one ``git fetch`` per deployment, and the graph is read again only when Argo CD
names a commit it does not hold yet, at most once a pass. A commit off the default branch
is asked of git itself. Thread-safe: a pass's reports ask from several threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

Parents = tuple[str, ...]
Load = Callable[[], Iterable[tuple[str, Parents]]]
Ask = Callable[[str, str], bool]  # (revision, ancestor) -> whether revision contains it


class CommitGraph:
    def __init__(self, load: Load, ask: Ask):
        self._load = load
        self._ask = ask
        self._parents: dict[str, Parents] = {}
        self._depth: dict[str, int] = {}
        self._read_this_pass = False
        self._lock = threading.Lock()
        self.reads = 0  # how often the graph was read, for tests and diagnostics

    def new_pass(self) -> None:
        """A new pass may read the graph again (once) when it meets a commit it lacks."""
        with self._lock:
            self._read_this_pass = False

    def contains(self, revision: str, ancestor: str) -> bool:
        """Whether ``revision`` is ``ancestor`` or descends from it."""
        if not revision or not ancestor:
            return False
        if revision == ancestor:
            return True
        with self._lock:
            if self._holds(revision, ancestor):
                return self._reaches(revision, ancestor)
        return self._ask(revision, ancestor)

    def _holds(self, *shas: str) -> bool:
        if all(sha in self._parents for sha in shas):
            return True
        if self._read_this_pass:
            return False
        self._read_this_pass = True
        self._parents = dict(self._load())
        self._depth = depths(self._parents)
        self.reads += 1
        return all(sha in self._parents for sha in shas)

    def _reaches(self, revision: str, ancestor: str) -> bool:
        # An ancestor is always shallower than its descendants: nothing at or above its
        # depth needs walking, so "is a newer commit contained in an older one" costs nothing.
        floor = self._depth[ancestor]
        seen: set[str] = set()
        todo = [revision]
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen or self._depth.get(sha, -1) <= floor:
                continue
            seen.add(sha)
            todo.extend(self._parents.get(sha, ()))
        return False


def depths(parents: Mapping[str, Parents]) -> dict[str, int]:
    """Each commit's longest distance from a root commit (roots are 0); parents outside
    ``parents`` count as roots."""
    depth: dict[str, int] = {}
    for start in parents:
        stack = [start]
        while stack:
            sha = stack[-1]
            if sha in depth:
                stack.pop()
                continue
            known = [p for p in parents[sha] if p in parents]
            waiting = [p for p in known if p not in depth]
            if waiting:
                stack.extend(waiting)
                continue
            depth[sha] = 1 + max((depth[p] for p in known), default=-1)
            stack.pop()
    return depth
