"""A change set: the files a generator wants, compared with what is on disk, then applied.

Generators are pure and return ``{relative path: bytes}``. This module decides what that
means for a directory (created, updated, unchanged, or kept because the user took the file
over), shows it as a diff for ``--dry-run``, and writes it atomically: every new file is
written to a temporary sibling first and only renamed into place once all were written, so
an error leaves nothing half-written.

Every path is confined to the change set's root (see :mod:`generators.paths`): a
directory or file of the repository that is a symlink out of it is refused while
planning, before anything is written.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from generators.errors import GeneratorError
from generators.paths import contained, read_contained
from generators.templating import GENERATED_MARK

CREATED, UPDATED, UNCHANGED, KEPT = "created", "updated", "unchanged", "kept"


@dataclass(frozen=True)
class FileChange:
    path: str  # relative, POSIX separators
    action: str  # created | updated | unchanged | kept
    old: bytes | None
    new: bytes

    @property
    def writes(self) -> bool:
        return self.action in (CREATED, UPDATED)


@dataclass(frozen=True)
class ChangeSet:
    root: Path
    changes: tuple[FileChange, ...]

    @property
    def writes(self) -> tuple[FileChange, ...]:
        return tuple(c for c in self.changes if c.writes)

    @property
    def empty(self) -> bool:
        return not self.writes

    def diff(self) -> str:
        """A unified diff of what :meth:`apply` would write, paths relative to the root."""
        out: list[str] = []
        for change in self.writes:
            old = (change.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
            new = change.new.decode("utf-8", "replace").splitlines(keepends=True)
            before = f"a/{change.path}" if change.old is not None else "/dev/null"
            out.extend(difflib.unified_diff(old, new, before, f"b/{change.path}"))
        return "".join(out)

    def apply(self) -> None:
        write_atomically(self.root, {c.path: c.new for c in self.writes})


def plan(root: Path, desired: Mapping[str, bytes]) -> ChangeSet:
    """Compare ``desired`` with ``root``. A file the generator owns carries GENERATED_MARK;
    once a user removes the mark from the file on disk, it is theirs and is kept."""
    _targets(root, desired)  # refused here, while nothing is written yet
    changes = []
    for rel in sorted(desired):
        new = desired[rel]
        old = read_contained(root, rel, str(root))
        if old is None:
            action = CREATED
        elif old == new:
            action = UNCHANGED
        elif GENERATED_MARK.encode() in new and GENERATED_MARK.encode() not in old:
            action = KEPT
        else:
            action = UPDATED
        changes.append(FileChange(rel, action, old, new))
    return ChangeSet(root, tuple(changes))


class ReadExisting:
    """``read(rel) -> bytes | None``: what a pure generator may see of a directory."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, rel: str) -> bytes | None:
        return read_contained(self.root, rel, str(self.root))


def write_atomically(root: Path, files: Mapping[str, bytes]) -> None:
    """Write every file or none: temporaries first, renames last. Every target is checked
    to be inside ``root`` before the first directory is made."""
    targets = _targets(root, files)
    staged: list[tuple[str, Path]] = []
    try:
        for rel, content in sorted(files.items()):
            target = targets[rel]
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chmod(tmp, 0o644)
    except OSError as exc:
        _discard(tmp for tmp, _ in staged)
        raise GeneratorError(root, f"cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        _discard(tmp for tmp, _ in staged)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)


def _targets(root: Path, files: Mapping[str, bytes]) -> dict[str, Path]:
    """Where each file goes, symlinks followed: refused unless inside ``root``, with no
    target inside another (a file cannot be a directory too), and every directory on the
    way either missing (to be made) or a directory."""
    targets = {rel: contained(root, rel, str(root)) for rel in sorted(files)}
    real_root = root.resolve()
    files_at = {target: rel for rel, target in targets.items()}
    for rel, target in targets.items():
        for parent in target.parents:
            if parent == real_root:
                break
            if parent in files_at:
                raise GeneratorError(
                    os.path.join(str(root), rel), f"is inside {files_at[parent]}, a file"
                )
            if os.path.lexists(parent) and not parent.is_dir():
                raise GeneratorError(
                    os.path.join(str(root), rel), f"cannot write: {parent} is not a directory"
                )
    return targets


def _discard(paths: Iterable[str]) -> None:
    for tmp in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
