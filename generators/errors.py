"""The generator's one error type: a problem with a named file, told in one line."""

from __future__ import annotations

from pathlib import PurePath


class GeneratorError(Exception):
    """Bad input the user can fix. ``str()`` is one line: ``<path>: <problem>``.

    The CLI prints it and exits with status 2; nothing has been written when it is raised.
    """

    def __init__(self, path: str | PurePath | None, problem: str, hint: str | None = None):
        self.path = str(path) if path is not None else None
        self.problem = " ".join(problem.split())
        self.hint = " ".join(hint.split()) if hint else None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.problem}{hint}"
