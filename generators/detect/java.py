"""Detection of java apps (not written yet: recognises nothing)."""

from __future__ import annotations

from generators.detect import register
from generators.model import Stack
from generators.source import SourceTree


@register("java")
def detect_java(tree: SourceTree) -> Stack | None:
    return None
