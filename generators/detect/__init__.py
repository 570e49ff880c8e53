"""Stack detection: frameworks first, then languages, then static sites.

Each language module exposes ``detect(tree) -> Stack | None``; :func:`detect` asks them in
order and the first that recognises the tree wins. A module returns ``None`` when the
tree is not its language, and raises :class:`GeneratorError` when it is but a file is
malformed.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import replace

from generators.detect.hints import UndetectableError
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

Detector = Callable[[SourceTree], Stack | None]

# A repository can hold several manifests (a Rails app has a package.json for its
# assets): the language that defines the server is asked first.
PRIORITY = (
    "elixir",
    "ruby",
    "php",
    "java",
    "dotnet",
    "go",
    "rust",
    "python",
    "deno",
    "node",
    "static",
)

# Filled in by the language modules' @register, then sorted by PRIORITY.
DETECTORS: list[tuple[str, Detector]] = []

LOOKED_FOR = (
    "Dockerfile",
    "requirements.txt / pyproject.toml / Pipfile (Python)",
    "package.json (Node.js)",
    "deno.json (Deno)",
    "go.mod / go.work (Go)",
    "Cargo.toml (Rust)",
    "pom.xml / build.gradle (Java)",
    "Gemfile (Ruby)",
    "composer.json (PHP)",
    "*.csproj / *.fsproj (.NET)",
    "mix.exs (Elixir)",
    "index.html (static site)",
)


def register(name: str) -> Callable[[Detector], Detector]:
    def wrap(fn: Detector) -> Detector:
        DETECTORS.append((name, fn))
        return fn

    return wrap


def detect(tree: SourceTree) -> Stack:
    """Return the stack of ``tree`` or raise a GeneratorError that says what was looked for.

    A repository with its own Dockerfile keeps it (template ``existing``): the language
    detectors still say what they can, and the Dockerfile's EXPOSE gives the port."""
    _load_detectors()
    has_dockerfile = tree.is_file("Dockerfile")
    for name, fn in DETECTORS:
        try:
            stack = fn(tree)
        except UndetectableError as exc:
            if not has_dockerfile:
                raise
            stack = _unfinished(name, exc)
        if stack is not None:
            return _existing(tree, stack) if has_dockerfile else stack
    if has_dockerfile:
        return _existing(tree, None)
    raise GeneratorError(
        tree.display_root,
        "no supported stack found; looked for " + ", ".join(LOOKED_FOR),
        hint="add a Dockerfile and AutoStack generates the rest (port and health_path go in "
        ".github/autostack.yml), or point --path or 'path:' in .github/autostack.yml at the "
        "app's subdirectory",
    )


def _load_detectors() -> None:
    if DETECTORS:
        return
    for name in PRIORITY:  # imported for their @register side effect
        importlib.import_module(f"generators.detect.{name}")
    DETECTORS.sort(key=lambda item: PRIORITY.index(item[0]))


_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)", re.IGNORECASE | re.MULTILINE)
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE | re.MULTILINE)
_CMD = re.compile(r"^\s*CMD\s+(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
DOCKER_DEFAULT_PORT = 8080


def _existing(tree: SourceTree, found: Stack | None) -> Stack:
    """The user's Dockerfile is the truth for the port and the start command."""
    text = re.sub(r"\s*\\\r?\n\s*", " ", tree.read_text("Dockerfile"))  # join continuation lines
    evidence = [*(found.evidence if found else ()), "found Dockerfile: it is kept as it is"]
    exposed = _EXPOSE.findall(text)
    if exposed:
        port = int(exposed[-1])
        evidence.append(f"Dockerfile EXPOSE {port}")
    else:
        port = found.port if found else DOCKER_DEFAULT_PORT
        evidence.append(f"Dockerfile has no EXPOSE: port {port}")
    commands = _CMD.findall(text)
    start = _cmd(commands[-1]) if commands else (found.start_command if found else ())
    if found is None:
        images = _FROM.findall(text)
        return Stack(
            language="docker",
            framework=None,
            package_manager=None,
            runtime_version=images[-1] if images else "unknown",
            version_source="Dockerfile",
            start_command=start,
            port=port,
            health_path=None,
            template="existing",
            evidence=(*evidence, "no known language: the Dockerfile defines the app"),
        )
    return replace(
        found, port=port, start_command=start, template="existing", evidence=tuple(evidence)
    )


def _cmd(raw: str) -> tuple[str, ...]:
    """A Dockerfile CMD as the words the container runs."""
    if raw.startswith("["):
        try:
            words = json.loads(raw)
        except json.JSONDecodeError:
            words = None
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            return tuple(words)
    return ("/bin/sh", "-c", raw)


def _unfinished(language: str, exc: UndetectableError) -> Stack:
    """What a detector knew before it gave up: the Dockerfile fills in the rest."""
    return Stack(
        language=language,
        framework=None,
        package_manager=None,
        runtime_version="unknown",
        version_source="Dockerfile",
        start_command=(),
        port=DOCKER_DEFAULT_PORT,
        health_path=None,
        template="existing",
        evidence=(f"{language}: {exc.problem}",),
    )
