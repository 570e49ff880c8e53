"""Safe, read-only access to an app's source tree for the detectors.

Every read goes through :class:`SourceTree`, which refuses what a detector must never
swallow silently: files that are too large, binary, unreadable, symlinks that loop or
leave the tree, and malformed JSON/TOML. Each refusal is a :class:`GeneratorError` naming
the file.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from generators.errors import GeneratorError
from generators.paths import is_inside, relative_path

MAX_FILE_BYTES = 1 << 20  # manifests users write are tiny; 1 MiB is generous
MAX_WALK_ENTRIES = 20_000  # bounds detection time on huge monorepos
SKIP_DIRS = frozenset(
    {
        ".git",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        "target",
        "vendor",
        "dist",
        "build",
        ".next",
        ".nuxt",
        "_build",
        "deps",
        "bin",
        "obj",
        ".gradle",
        ".mvn",
    }
)


class SourceTree:
    """A directory of application source, read without following links out of it."""

    def __init__(self, root: Path, display_root: str | None = None):
        try:
            resolved = root.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise GeneratorError(root, f"cannot open: {_reason(exc)}") from exc
        if not resolved.is_dir():
            raise GeneratorError(root, "is not a directory")
        if not os.access(resolved, os.R_OK | os.X_OK):
            raise GeneratorError(root, "is not readable")
        self.root = resolved
        self.display_root = display_root if display_root is not None else str(root)

    def display(self, rel: str) -> str:
        """The path as the user should see it in messages."""
        return os.path.join(self.display_root, rel)

    def _resolve(self, rel: str) -> Path | None:
        path = self.root / rel
        if not os.path.lexists(path):
            return None
        try:
            real = path.resolve(strict=True)
        except RuntimeError as exc:  # symlink loop on older Pythons
            raise GeneratorError(self.display(rel), "symlink loop") from exc
        except OSError as exc:
            if exc.errno == 40:  # ELOOP
                raise GeneratorError(self.display(rel), "symlink loop") from exc
            raise GeneratorError(self.display(rel), f"cannot open: {_reason(exc)}") from exc
        if not is_inside(real, self.root):
            raise GeneratorError(self.display(rel), "symlink points outside the app directory")
        return real

    def subtree(self, rel: str, source: str) -> SourceTree:
        """The subdirectory ``rel`` (the app's ``path:``) as a tree of its own, refused when
        the text leaves the tree (``source`` says where it came from) or a symlink on the
        way does."""
        clean = relative_path(rel, source)
        real = self._resolve(clean)
        if real is None:
            raise GeneratorError(source, f"{clean!r}: no such directory in the repository")
        if not real.is_dir():
            raise GeneratorError(source, f"{clean!r} is not a directory")
        return SourceTree(real, self.display(clean))

    def exists(self, rel: str) -> bool:
        return self._resolve(rel) is not None

    def is_file(self, rel: str) -> bool:
        real = self._resolve(rel)
        return real is not None and real.is_file()

    def is_dir(self, rel: str) -> bool:
        real = self._resolve(rel)
        return real is not None and real.is_dir()

    def read_bytes(self, rel: str) -> bytes:
        real = self._resolve(rel)
        if real is None:
            raise GeneratorError(self.display(rel), "does not exist")
        if not real.is_file():
            raise GeneratorError(self.display(rel), "is not a regular file")
        try:
            size = real.stat().st_size
            if size > MAX_FILE_BYTES:
                raise GeneratorError(
                    self.display(rel), f"is too large ({size} bytes, limit {MAX_FILE_BYTES})"
                )
            with real.open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except PermissionError as exc:
            raise GeneratorError(self.display(rel), "is not readable (permission denied)") from exc
        except OSError as exc:
            raise GeneratorError(self.display(rel), f"cannot be read: {_reason(exc)}") from exc
        if b"\x00" in data:
            raise GeneratorError(self.display(rel), "is a binary file, expected text")
        return data

    def read_text(self, rel: str) -> str:
        data = self.read_bytes(rel)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise GeneratorError(
                self.display(rel), f"is not valid UTF-8 (byte {exc.start})"
            ) from exc

    def read_text_or_none(self, rel: str) -> str | None:
        return self.read_text(rel) if self.is_file(rel) else None

    def read_json(self, rel: str) -> Any:
        text = self.read_text(rel)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise GeneratorError(
                self.display(rel), f"malformed JSON at line {exc.lineno}: {exc.msg}"
            ) from exc

    def read_toml(self, rel: str) -> dict[str, Any]:
        text = self.read_text(rel)
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise GeneratorError(self.display(rel), f"malformed TOML: {exc}") from exc

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Relative paths of the regular files, sorted, skipping dependency and build dirs."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
                if len(found) >= MAX_WALK_ENTRIES:
                    return tuple(sorted(found))
        return tuple(sorted(found))

    def glob(self, suffix: str, max_depth: int = 3) -> Iterator[str]:
        """Files whose name ends with ``suffix``, at most ``max_depth`` directories deep."""
        for rel in self.files:
            if rel.endswith(suffix) and rel.count("/") < max_depth:
                yield rel


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__
