"""Paths confined to one directory: the app repository or the GitOps repository.

A repository is not trusted to keep its own shape: any directory or file in it may be a
symlink, and a path in its config may say ``../x`` or ``/etc``. Everything the generator
reads or writes is named by a repository-relative path that is first checked as text
(:func:`relative_path`), then resolved with every existing symlink followed and refused
unless it is still inside the directory (:func:`contained`).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from generators.errors import GeneratorError

MAX_FILE_BYTES = 1 << 20  # files the generator reads are hand-written and small
MAX_RELATIVE_PATH = 1024
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\\]")


def relative_path(text: str, source: str) -> str:
    """``text`` as a clean repository-relative POSIX path (trailing ``/`` dropped), or a
    one-line GeneratorError naming ``source``: no absolute path, no ``..``, ``.`` or
    empty part, no backslash or control character."""
    shown = repr(text[:80])
    if not text or len(text) > MAX_RELATIVE_PATH:
        raise GeneratorError(source, f"{shown} is not a path inside the repository")
    if text.startswith("/"):
        raise GeneratorError(
            source,
            f"{shown} is absolute; give a path relative to the repository root",
        )
    if _UNPRINTABLE.search(text):
        raise GeneratorError(source, f"{shown} contains a backslash or a control character")
    parts = text.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise GeneratorError(
            source, f"{shown} must stay inside the repository (no '..', '.' or '//')"
        )
    return "/".join(parts)


def is_inside(path: Path, root: Path) -> bool:
    """Whether resolved ``path`` is resolved ``root`` or below it."""
    return path == root or root in path.parents


def contained(root: Path, rel: str, what: str = "the directory") -> Path:
    """``root/rel`` with every symlink that exists on the way followed; a GeneratorError
    naming the path when that leads outside ``root`` (``what`` says what ``root`` is) or
    into a symlink loop. Parts that do not exist yet are kept as given."""
    shown = os.path.join(str(root), rel)
    clean = relative_path(rel, shown)
    real_root = root.resolve()
    try:
        real = real_root.joinpath(*clean.split("/")).resolve()
    except RuntimeError as exc:  # Python < 3.13: a symlink loop
        raise GeneratorError(shown, "symlink loop") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise GeneratorError(shown, "symlink loop") from exc
        raise GeneratorError(shown, f"cannot open: {_reason(exc)}") from exc
    if not is_inside(real, real_root):
        raise GeneratorError(shown, f"symlink points outside {what}")
    return real


def read_contained(
    root: Path, rel: str, what: str = "the directory", max_bytes: int = MAX_FILE_BYTES
) -> bytes | None:
    """The bytes of the regular file ``root/rel``, None when there is none; refused when
    it leads outside ``root``, is not a regular file, or is larger than ``max_bytes``."""
    path = contained(root, rel, what)
    shown = os.path.join(str(root), rel)
    if not os.path.lexists(path):
        return None
    if not path.is_file():
        raise GeneratorError(shown, "is not a regular file")
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise GeneratorError(shown, f"cannot be read: {_reason(exc)}") from exc
    if len(data) > max_bytes:
        raise GeneratorError(shown, f"is too large (limit {max_bytes} bytes)")
    return data


def read_text_contained(root: Path, rel: str, what: str = "the directory") -> str | None:
    """:func:`read_contained` decoded as UTF-8, a GeneratorError when it is not."""
    data = read_contained(root, rel, what)
    if data is None:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        shown = os.path.join(str(root), rel)
        raise GeneratorError(shown, f"is not valid UTF-8 (byte {exc.start})") from exc


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()
