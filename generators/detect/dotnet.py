"""Detection of dotnet apps (not written yet: recognises nothing)."""

from __future__ import annotations

from generators.detect import register
from generators.model import Stack
from generators.source import SourceTree


@register("dotnet")
def detect_dotnet(tree: SourceTree) -> Stack | None:
    return None
