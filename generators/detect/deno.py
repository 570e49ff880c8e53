"""Detection of deno apps (not written yet: recognises nothing)."""

from __future__ import annotations

from generators.detect import register
from generators.model import Stack
from generators.source import SourceTree


@register("deno")
def detect_deno(tree: SourceTree) -> Stack | None:
    return None
