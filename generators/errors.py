"""The generator's one error type: a problem with a named file, told in one line."""

from __future__ import annotations

from pathlib import PurePath

# A problem quotes what it refuses; a value of megabytes must not become a message (or an
# onboarding issue) of megabytes. Paths get more room: callers match them by prefix.
MAX_PROBLEM = 400
MAX_PATH = 1024


class GeneratorError(Exception):
    """Bad input the user can fix. ``str()`` is one line: ``<path>: <problem>``.

    The CLI prints it and exits with status 2; nothing has been written when it is raised.
    """

    def __init__(self, path: str | PurePath | None, problem: str, hint: str | None = None):
        self.path = _one_line(str(path), MAX_PATH) if path is not None else None
        self.problem = _one_line(problem, MAX_PROBLEM)
        self.hint = _one_line(hint, MAX_PROBLEM) if hint else None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.problem}{hint}"


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text[: limit * 4].split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
