"""Detection of ruby apps (not written yet: recognises nothing)."""

from __future__ import annotations

from generators.detect import register
from generators.model import Stack
from generators.source import SourceTree


@register("ruby")
def detect_ruby(tree: SourceTree) -> Stack | None:
    return None
