"""Detection of elixir apps (not written yet: recognises nothing)."""

from __future__ import annotations

from generators.detect import register
from generators.model import Stack
from generators.source import SourceTree


@register("elixir")
def detect_elixir(tree: SourceTree) -> Stack | None:
    return None
