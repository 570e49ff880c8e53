"""Dockerfile and .dockerignore for a detected stack."""

from __future__ import annotations

import json

from generators.model import Stack
from generators.templating import GENERATED_MARK, render


def dockerfile(stack: Stack, app_name: str) -> str:
    """A hardened multi-stage Dockerfile from ``templates/dockerfile/<template>.Dockerfile.j2``."""
    return render(
        f"dockerfile/{stack.template}.Dockerfile.j2",
        stack=stack,
        options=stack.options,
        app_name=app_name,
        version=stack.runtime_version,
        cmd=json.dumps(list(stack.start_command)),
        mark=GENERATED_MARK,
    )


def dockerignore(stack: Stack) -> str:
    return render("dockerfile/dockerignore.j2", stack=stack, mark=GENERATED_MARK)
