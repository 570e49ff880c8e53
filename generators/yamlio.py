"""The one way AutoStack reads YAML that comes from a repository: bounded.

A few hundred bytes of YAML can describe gigabytes: aliases that refer to collections
holding more aliases ("billion laughs") are cheap to parse, because the parser shares
the aliased node, and explode later, in whatever walks the value (``str()``, ``repr()``,
an error message, a dump). So every document is composed first and its node graph is
measured *as if expanded* before anything is built from it: too many nodes, too much
text, too deep, or an alias inside itself is a refusal. The text itself is capped in size,
and composing is given a deadline.

Plain reads use PyYAML's LibYAML loader (twenty times faster, which matters when a
repository holds thousands of apps); round-trip edits that must keep comments and
layout use ruamel.yaml through :func:`round_trip_load`, bounded the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from generators.errors import GeneratorError

YAMLError = yaml.YAMLError
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What a malformed value can raise while being built, besides YAMLError: an integer of
# more than 4300 digits, a date such as 2001-13-45, Python's recursion limit.
_BUILD_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)


@dataclass(frozen=True)
class Limits:
    """How much one YAML text may cost. Files people write for AutoStack are a few
    kilobytes with a few hundred nodes; these bounds are far above that and far below
    what would hurt."""

    max_bytes: int = 1 << 20  # the text, UTF-8 encoded
    max_nodes: int = 100_000  # nodes after alias expansion, all documents together
    # Nodes that aliases add: anchors that spare repeating a few settings stay far below
    # this, while nested aliases to collections (the bomb) multiply past it at once.
    max_alias_nodes: int = 10_000
    max_chars: int = 2 << 20  # characters of scalars after alias expansion
    max_depth: int = 100  # nesting of collections
    max_seconds: float = 5.0  # reading one text, measured on ``clock``
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


LIMITS = Limits()
# ruamel.yaml composes in pure Python, some fifty times slower than LibYAML: round-trip
# edits are for small hand-written files (overlays), so they get fewer nodes.
ROUND_TRIP_LIMITS = Limits(max_nodes=20_000)


class YAMLLimitError(yaml.YAMLError):
    """A text over one of the :class:`Limits`; ``str()`` says which, in one line.

    A :data:`YAMLError`, so code that already refuses malformed YAML refuses this too."""


def load(text: str, path: str, limits: Limits = LIMITS) -> Any:
    """The one YAML document in ``text`` as plain Python values (None when empty).

    Malformed or oversized YAML is a one-line :class:`GeneratorError` naming ``path``."""
    with refusing(path):
        return safe_load(text, limits)


def load_all(text: str, path: str, limits: Limits = LIMITS) -> list[Any]:
    """Every non-empty document in ``text``, with :func:`load`'s limits and errors."""
    with refusing(path):
        return safe_load_all(text, limits)


def safe_load(text: str, limits: Limits = LIMITS) -> Any:
    """One YAML document; raises :data:`YAMLError` (:class:`YAMLLimitError` past a limit)."""
    check_size(text, limits)
    budget = _Budget(limits)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node, budget)
    finally:
        loader.dispose()


def safe_load_all(text: str, limits: Limits = LIMITS) -> list[Any]:
    """Every non-empty document; raises like :func:`safe_load`."""
    return [doc for doc in _documents(text, limits) if doc is not None]


def round_trip_yaml(limits: Limits = ROUND_TRIP_LIMITS) -> YAML:
    """A ruamel.yaml round-trip instance whose loads and composes are bounded like
    :func:`load`'s (past a limit they raise :class:`YAMLLimitError`). Use it through
    :func:`round_trip_load` and :func:`round_trip_compose`, which check the text's size
    first: ruamel reads the whole text before it composes."""
    rt = YAML(typ="rt", pure=True)
    rt.Composer = _bounded_composer(limits)
    return rt


def round_trip_load(text: str, path: str, rt: YAML | None = None) -> Any:
    """The one document in ``text`` with comments and layout kept, for editing."""
    with refusing(path):
        check_size(text, ROUND_TRIP_LIMITS)
        return (rt or round_trip_yaml()).load(text)


def round_trip_compose(text: str, path: str) -> Any:
    """The node graph of the one document in ``text``, with each node's position."""
    with refusing(path):
        check_size(text, ROUND_TRIP_LIMITS)
        return round_trip_yaml().compose(text)


def check_size(text: str, limits: Limits = LIMITS) -> None:
    """Refuse a text larger than ``limits.max_bytes``; raises :class:`YAMLLimitError`."""
    # Characters never outnumber bytes, so only a text near the limit is encoded.
    if len(text) > limits.max_bytes or (
        len(text) * 4 > limits.max_bytes and len(text.encode("utf-8", "replace")) > limits.max_bytes
    ):
        raise YAMLLimitError(f"is too large for a YAML file (limit {limits.max_bytes} bytes)")


@contextmanager
def refusing(path: str) -> Iterator[None]:
    """Turn any failure to read YAML inside the block into a one-line GeneratorError."""
    try:
        yield
    except YAMLLimitError as exc:
        raise GeneratorError(path, str(exc)) from exc
    except (YAMLError, RuamelYAMLError, *_BUILD_ERRORS) as exc:
        raise GeneratorError(path, f"malformed YAML: {one_line(exc)}") from exc


def one_line(exc: BaseException) -> str:
    """An exception from a YAML library as one short line."""
    return " ".join(str(exc).split())[:200]


# -- PyYAML ------------------------------------------------------------------------------


def _documents(text: str, limits: Limits) -> Iterator[Any]:
    check_size(text, limits)
    budget = _Budget(limits)  # one budget for all the documents of the text
    loader = _Loader(text)
    try:
        while loader.check_node():
            yield _build(loader, loader.get_node(), budget)
    finally:
        loader.dispose()


def _build(loader: Any, node: Any, budget: _Budget) -> Any:
    budget.measure(node)
    try:
        return loader.construct_document(node)
    except _BUILD_ERRORS as exc:
        raise YAMLError(f"cannot read a value: {one_line(exc)}") from exc


# -- ruamel.yaml -------------------------------------------------------------------------


def _bounded_composer(limits: Limits) -> type[Composer]:
    class BoundedComposer(Composer):
        """ruamel's composer (pure Python), counting and timing as it goes, and measuring
        each document it composed before anything is built from it."""

        budget = _Budget(limits)

        def compose_document(self) -> Any:
            self.budget = _Budget(limits)
            node = super().compose_document()
            self.budget.measure(node)
            return node

        def compose_node(self, parent: Any, index: Any) -> Any:
            # Refused here, before ruamel's own recursion goes deeper than Python allows.
            if self.depth >= limits.max_depth:
                raise _too_deep(limits)
            self.budget.tick()
            return super().compose_node(parent, index)

    return BoundedComposer


# -- the measure -------------------------------------------------------------------------


class _Budget:
    """What the documents of one text cost so far, refused past :class:`Limits`."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.started = limits.clock()
        self.nodes = 0  # after expansion, in the documents measured so far
        self.alias_nodes = 0  # of those, the ones aliases added
        self.composed = 0  # as composed, for the deadline and an early stop

    def tick(self) -> None:
        """One more node composed (ruamel composes in Python, so it can stop early)."""
        self.composed += 1
        if self.composed > self.limits.max_nodes:
            raise YAMLLimitError(f"has too many YAML nodes (limit {self.limits.max_nodes})")
        if self.composed % 256 == 0:
            self.check_time()

    def check_time(self) -> None:
        if self.limits.clock() - self.started > self.limits.max_seconds:
            raise YAMLLimitError(
                f"takes too long to read as YAML (limit {self.limits.max_seconds:g} s)"
            )

    def measure(self, root: Any) -> None:
        """Add up what the document would be with every alias expanded, visiting each
        distinct node once, without recursion (Python's own depth limit is not ours)."""
        self.check_time()
        expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, scalar chars)
        entered: set[int] = set()  # on the current path: met again, it contains itself
        stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
        while stack:
            node, depth, children_done = stack.pop()
            key = id(node)
            if children_done:
                entered.discard(key)
                expanded[key] = self._add_up(node, expanded)
                continue
            if key in expanded:  # an alias: the node counts again wherever it is used
                self._add_alias(expanded[key][0])
                continue
            if key in entered:
                raise YAMLLimitError("has a YAML alias inside the node it names")
            if depth > self.limits.max_depth:
                raise _too_deep(self.limits)
            entered.add(key)
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in reversed(_children(node)))
        self.nodes += expanded[id(root)][0]
        self.check_time()

    def _add_alias(self, nodes: int) -> None:
        self.alias_nodes += nodes
        if self.alias_nodes > self.limits.max_alias_nodes:
            raise YAMLLimitError(
                f"YAML aliases expand too far (over {self.limits.max_alias_nodes} nodes)"
            )

    def _add_up(self, node: Any, expanded: dict[int, tuple[int, int]]) -> tuple[int, int]:
        nodes, chars = 1, len(node.value) if isinstance(node.value, str) else 0
        for child in _children(node):
            child_nodes, child_chars = expanded[id(child)]
            nodes += child_nodes
            chars += child_chars
        if self.nodes + nodes > self.limits.max_nodes:
            raise YAMLLimitError(f"has too many YAML nodes (limit {self.limits.max_nodes})")
        if chars > self.limits.max_chars:
            raise YAMLLimitError(
                f"YAML aliases expand too far (over {self.limits.max_chars} characters)"
            )
        return nodes, chars


def _too_deep(limits: Limits) -> YAMLLimitError:
    return YAMLLimitError(f"nests YAML too deeply (limit {limits.max_depth} levels)")


def _children(node: Any) -> list[Any]:
    """A node's direct children, for PyYAML's and ruamel's nodes alike."""
    value = node.value
    if isinstance(value, str):
        return []
    children: list[Any] = []
    for item in value:
        if isinstance(item, tuple):  # a mapping's (key, value) pair
            children.extend(item)
        else:
            children.append(item)
    return children
