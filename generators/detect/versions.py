"""Runtime versions from the files users actually write, and current defaults.

Language detectors first read their own files (``.python-version``, ``.nvmrc``, the
``go`` line of go.mod, ...) and fall back to :func:`tool_version`, which reads the
polyglot version managers' files (asdf's ``.tool-versions``, mise's ``mise.toml`` and
``.mise.toml``), and then to :data:`DEFAULTS`.
"""

from __future__ import annotations

import re

from generators.source import SourceTree

# Current stable lines, used when the app does not say. Kept as major(.minor) so the
# Dockerfile's base image tag tracks patch releases.
DEFAULTS: dict[str, str] = {
    "python": "3.12",
    "node": "22",
    "bun": "1.1",
    "deno": "2.1",
    "go": "1.23",
    "rust": "1.83",
    "java": "21",
    "ruby": "3.3",
    "php": "8.3",
    "dotnet": "8.0",
    "elixir": "1.17",
    "erlang": "27",
}

VERSION_RE = re.compile(r"\d+(?:\.\d+){0,2}")


def clean_version(raw: str) -> str | None:
    """The first dotted version number in ``raw`` (``"^3.11"`` -> ``"3.11"``), or None."""
    match = VERSION_RE.search(raw)
    return match.group(0) if match else None


def tool_version(tree: SourceTree, *tools: str) -> tuple[str, str] | None:
    """``(version, file)`` from .tool-versions or mise.toml for the first of ``tools`` set."""
    text = tree.read_text_or_none(".tool-versions")
    if text is not None:
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 2 and parts[0] in tools:
                version = clean_version(parts[1])
                if version:
                    return version, ".tool-versions"
    for name in ("mise.toml", ".mise.toml"):
        if tree.is_file(name):
            data = tree.read_toml(name)
            section = data.get("tools", {})
            if not isinstance(section, dict):
                continue
            for tool in tools:
                value = section.get(tool)
                if isinstance(value, list) and value:
                    value = value[0]
                if isinstance(value, dict):
                    value = value.get("version")
                if isinstance(value, str | int | float):
                    version = clean_version(str(value))
                    if version:
                        return version, name
    return None


def resolve(tree: SourceTree, language: str, *own: tuple[str | None, str]) -> tuple[str, str]:
    """First of the language's own ``(version, file)`` candidates that is set, then the
    version managers' files, then the default: returns ``(version, source)``."""
    for raw, source in own:
        if raw:
            version = clean_version(raw)
            if version:
                return version, source
    found = tool_version(tree, language, *_ALIASES.get(language, ()))
    if found:
        return found
    return DEFAULTS[language], "default"


_ALIASES = {"node": ("nodejs",), "go": ("golang",), "dotnet": ("dotnet-core",)}
