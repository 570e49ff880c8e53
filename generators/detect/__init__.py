"""Stack detection: frameworks first, then languages, then static sites.

Each language module exposes ``detect(tree) -> Stack | None``; :func:`detect` asks them in
order and the first that recognises the tree wins. A module returns ``None`` when the
tree is not its language, and raises :class:`GeneratorError` when it is but a file is
malformed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

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
    """Return the stack of ``tree`` or raise a GeneratorError that says what was looked for."""
    _load_detectors()
    for _name, fn in DETECTORS:
        stack = fn(tree)
        if stack is not None:
            return stack
    raise GeneratorError(
        tree.display_root,
        "no supported stack found; looked for " + ", ".join(LOOKED_FOR),
        hint="set 'command' and 'port' in .github/autostack.yml or add a Dockerfile",
    )


def _load_detectors() -> None:
    if DETECTORS:
        return
    for name in PRIORITY:  # imported for their @register side effect
        importlib.import_module(f"generators.detect.{name}")
    DETECTORS.sort(key=lambda item: PRIORITY.index(item[0]))
