"""Clues shared by the language detectors: Procfile entries, start commands written as
shell lines, ports and health routes found in the app's own code.

All functions are pure over a :class:`SourceTree`; they return ``None`` when the clue is
absent and leave the decision to the detector.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from generators.errors import GeneratorError
from generators.source import SourceTree


class UndetectableError(GeneratorError):
    """The stack was recognised, but something the Dockerfile needs (usually the start
    command) could not be inferred. A user's own Dockerfile makes this harmless."""


# $PORT, ${PORT} and ${PORT:-3000}: Heroku-style commands read the port from the
# environment. The image's CMD is exec-form (no shell), so the port is substituted.
_PORT_VAR = re.compile(r"\$\{PORT(?::?-(\d+))?\}|\$PORT\b")
_SHELL_OPERATORS = re.compile(r"&&|\|\||[;|<>`]|\$\(")
_PORT_FLAGS = re.compile(
    r"(?:--port[= ]|-p[= ]?|--bind[= ](?:[\w.\[\]:]*:)?|-b[= ](?:[\w.\[\]:]*:)?|PORT=)(\d{2,5})\b"
)

HEALTH_PATHS = ("/healthz", "/health", "/livez", "/readyz", "/ping", "/api/health", "/_health")
_HEALTH_ROUTE = re.compile(
    r"""\.(?:get|route|api_route|head|all)\(\s*["'](/[\w/-]*)["']""", re.IGNORECASE
)


def procfile(tree: SourceTree) -> dict[str, str]:
    """The process types of a Procfile (``web``, ``release``, ...) and their commands."""
    text = tree.read_text_or_none("Procfile")
    if text is None:
        return {}
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, command = stripped.partition(":")
        if not sep or not re.fullmatch(r"[\w-]+", name.strip()) or not command.strip():
            raise GeneratorError(
                tree.display("Procfile"), f"line {number}: expected '<process>: <command>'"
            )
        entries.setdefault(name.strip(), command.strip())
    return entries


def port_in_command(command: str) -> int | None:
    """A port a command line names explicitly (``--port 5000``, ``-b 0.0.0.0:8080``)."""
    default = _PORT_VAR.search(command)
    if default and default.group(1):
        return int(default.group(1))
    match = _PORT_FLAGS.search(command)
    return int(match.group(1)) if match else None


def exec_form(command: str, port: int) -> tuple[str, ...]:
    """An exec-form CMD for a shell command line, with ``$PORT`` replaced by ``port``.

    A line that needs a shell (``&&``, pipes, redirections) runs under ``sh -c``, so
    its meaning does not change."""
    line = _PORT_VAR.sub(str(port), command.strip())
    if _SHELL_OPERATORS.search(line) or "$" in line:
        return ("sh", "-c", line)
    try:
        words = shlex.split(line)
    except ValueError:
        return ("sh", "-c", line)
    # Leading VAR=value words are environment for the command: exec form cannot set them.
    if words and "=" in words[0] and not words[0].startswith("-"):
        return ("sh", "-c", line)
    return tuple(words)


def health_route(tree: SourceTree, files: Iterable[str]) -> str | None:
    """The first well-known health path that the app's code registers as a route."""
    found: set[str] = set()
    for rel in files:
        text = read_code(tree, rel)
        if text is None:
            continue
        found.update(m.group(1) for m in _HEALTH_ROUTE.finditer(text))
    return next((path for path in HEALTH_PATHS if path in found), None)


def source_files(tree: SourceTree, suffixes: tuple[str, ...], max_depth: int = 3) -> list[str]:
    """App source files (tests excluded) with one of ``suffixes``, shallowest first."""
    picked = [
        rel
        for rel in tree.files
        if rel.endswith(suffixes)
        and rel.count("/") < max_depth
        and not any(part in {"tests", "test", "__tests__", "e2e"} for part in rel.split("/"))
    ]
    return sorted(picked, key=lambda rel: (rel.count("/"), rel))


def read_code(tree: SourceTree, rel: str) -> str | None:
    """A source file's text, or None when it cannot be a hand-written source file (too
    large, binary, not UTF-8): scanning code is best effort and must not fail detection."""
    try:
        return tree.read_text_or_none(rel)
    except GeneratorError:
        return None
