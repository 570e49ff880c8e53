"""The generator's one error type: a problem with a named file, told in one line."""

from __future__ import annotations

from pathlib import PurePath

# A problem quotes what it refuses; a value of megabytes must not become a message (or an
# onboarding issue) of megabytes.
MAX_PART = 400


class GeneratorError(Exception):
    """Bad input the user can fix. ``str()`` is one line: ``<path>: <problem>``.

    The CLI prints it and exits with status 2; nothing has been written when it is raised.
    """

    def __init__(self, path: str | PurePath | None, problem: str, hint: str | None = None):
        self.path = _one_line(str(path)) if path is not None else None
        self.problem = _one_line(problem)
        self.hint = _one_line(hint) if hint else None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.problem}{hint}"


def _one_line(text: str) -> str:
    line = " ".join(text[: MAX_PART * 4].split())
    return line if len(line) <= MAX_PART else line[: MAX_PART - 3] + "..."
