"""The sandbox's ``autostack.env``: the ``AUTOSTACK_*`` settings that point a bot at it, as
``KEY=value`` lines that both ``set -a; . FILE`` and ``docker run --env-file`` read."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

ENV_FILE = "autostack.env"


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    """Write ``values`` owner-only (they hold the sandbox App's secrets), atomically, so a
    reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as env:
            env.writelines(f"{key}={value}\n" for key, value in values.items())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_env_file(path: Path) -> dict[str, str]:
    """The settings ``write_env_file`` wrote."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}
