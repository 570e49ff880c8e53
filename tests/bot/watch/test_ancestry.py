"""``CommitGraph``: ancestry answered in memory, the graph read at most once a pass, git
asked only about commits off the default branch."""

from __future__ import annotations

from bot.watch.ancestry import CommitGraph, depths

#   a - b - c ------- m - n      (m merges the branch d - e)
#        \          /
#         d ------ e
HISTORY = {
    "n": ("m",),
    "m": ("c", "e"),
    "e": ("d",),
    "c": ("b",),
    "d": ("b",),
    "b": ("a",),
    "a": (),
}


class Repo:
    """What the graph reads, and a git that records what it is asked."""

    def __init__(self, history: dict[str, tuple[str, ...]]):
        self.history = dict(history)  # the default branch, which the graph reads
        self.elsewhere = {"x": ("b",)}  # on another branch: only git knows it
        self.loads = 0
        self.asked: list[tuple[str, str]] = []

    def load(self) -> list[tuple[str, tuple[str, ...]]]:
        self.loads += 1
        return list(self.history.items())

    def ask(self, revision: str, ancestor: str) -> bool:
        self.asked.append((revision, ancestor))
        return ancestor in _all_ancestors({**self.history, **self.elsewhere}, revision)

    def graph(self) -> CommitGraph:
        return CommitGraph(self.load, self.ask)


def _all_ancestors(history: dict[str, tuple[str, ...]], sha: str) -> set[str]:
    found, todo = set(), [sha]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(history[current])
    return found


def test_answers_match_the_history_for_every_pair() -> None:
    repo = Repo(HISTORY)
    graph = repo.graph()
    for revision in HISTORY:
        reachable = _all_ancestors(HISTORY, revision)
        for ancestor in HISTORY:
            assert graph.contains(revision, ancestor) == (ancestor in reachable), (
                revision,
                ancestor,
            )
    assert repo.loads == 1
    assert repo.asked == []


def test_depths_count_the_longest_way_from_a_root() -> None:
    assert depths(HISTORY) == {"a": 0, "b": 1, "c": 2, "d": 2, "e": 3, "m": 4, "n": 5}
    # Listed parents-first or children-first, the same answer.
    assert depths(dict(reversed(HISTORY.items()))) == depths(HISTORY)


def test_a_new_commit_is_read_once_a_pass_and_unknown_ones_go_to_git() -> None:
    repo = Repo(HISTORY)
    graph = repo.graph()
    assert graph.contains("n", "a")
    repo.history["o"] = ("n",)  # landed after the graph was read
    assert graph.contains("o", "c")  # this pass already read the graph: git answers
    assert repo.asked == [("o", "c")]
    graph.new_pass()
    assert graph.contains("o", "e")
    assert not graph.contains("c", "o")
    assert repo.loads == 2
    assert graph.contains("x", "b")  # not on the default branch: git answers
    assert not graph.contains("x", "c")
    assert repo.asked == [("o", "c"), ("x", "b"), ("x", "c")]
    assert repo.loads == 2  # once a pass at most


def test_a_commit_is_its_own_descendant_and_empty_names_nothing() -> None:
    repo = Repo(HISTORY)
    graph = repo.graph()
    assert graph.contains("zz", "zz")
    assert not graph.contains("", "a")
    assert not graph.contains("a", "")
    assert repo.loads == 0
