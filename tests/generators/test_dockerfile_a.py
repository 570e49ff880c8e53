"""Dockerfiles and .dockerignore rendered for the Python, Node.js, Deno and static examples:
hadolint-clean at its default rules, and hardened the way the issue asks."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from generators.detect import detect
from generators.dockerfile import dockerfile, dockerignore
from generators.model import Stack
from generators.source import SourceTree

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ROOT / "tests" / "fixtures" / "apps"
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
PREFIXES = ("python-", "node-", "deno-", "static-")  # docker-* keep the user's Dockerfile
EXAMPLES = sorted(p.name for p in APPS.iterdir() if p.name.startswith(PREFIXES))


def stack_of(name: str) -> Stack:
    return detect(SourceTree(APPS / name))


@pytest.fixture(scope="module", params=EXAMPLES)
def rendered(request: pytest.FixtureRequest) -> tuple[Stack, str]:
    stack = stack_of(request.param)
    return stack, dockerfile(stack, request.param)


def stages(text: str) -> list[list[str]]:
    """Instruction lines (continuations joined) grouped by FROM."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.strip() for ln in joined.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    groups: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            groups.append([])
        groups[-1].append(line)
    return groups


def test_hadolint_finds_nothing(rendered: tuple[Stack, str], tmp_path: Path) -> None:
    _stack, text = rendered
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    result = subprocess.run(
        [str(HADOLINT), "-f", "json", str(path)], capture_output=True, text=True, check=False
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_every_ignore_rule_is_argued(rendered: tuple[Stack, str]) -> None:
    lines = rendered[1].splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            assert i > 0 and lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1]


def test_final_stage_is_hardened(rendered: tuple[Stack, str]) -> None:
    stack, text = rendered
    final = stages(text)[-1]
    users = [ln for ln in final if ln.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    cmd = [ln for ln in final if ln.startswith("CMD ")]
    assert len(cmd) == 1 and json.loads(cmd[0][4:]) == list(stack.start_command)
    assert f"EXPOSE {stack.port}" in final
    assert any(ln.startswith("LABEL org.opencontainers.image.title=") for ln in final)
    # The app's files stay root-owned so the root filesystem can be read-only.
    assert not any("--chown" in ln or "chown " in ln or "chmod " in ln for ln in final)


def test_no_add_no_secrets_no_migrations(rendered: tuple[Stack, str]) -> None:
    stack, text = rendered
    instructions = [ln for group in stages(text) for ln in group]
    assert not any(ln.startswith("ADD ") for ln in instructions)
    assert not any(
        re.match(r"(ARG|ENV) .*(SECRET|TOKEN|PASSWORD|API_KEY)", ln, re.I) for ln in instructions
    )
    if stack.migrate_command:
        cmd = next(ln for ln in stages(text)[-1] if ln.startswith("CMD "))
        assert " ".join(stack.migrate_command) not in " ".join(json.loads(cmd[4:]))


def test_base_images_are_pinned(rendered: tuple[Stack, str]) -> None:
    _stack, text = rendered
    names: set[str] = set()
    for group in stages(text):
        words = group[0].split()
        image = words[1]
        if image not in names:
            repo, _, tag = image.rpartition(":")
            assert repo and "/" not in tag, f"untagged image {image}"
            assert tag != "latest" and re.search(r"\d", tag), f"unpinned image {image}"
        if len(words) == 4 and words[2].upper() == "AS":
            names.add(words[3])


def test_installs_use_build_cache_mounts(rendered: tuple[Stack, str]) -> None:
    stack, text = rendered
    runs = [ln for group in stages(text) for ln in group if ln.startswith("RUN ")]
    if stack.language == "static":
        assert runs == []  # nothing to install: the files are served as they are
        return
    assert any("--mount=type=cache" in ln for ln in runs)
    assert len(stages(text)) >= 2, "dependencies are resolved in a build stage"


def test_rendering_is_deterministic(rendered: tuple[Stack, str]) -> None:
    stack, text = rendered
    assert dockerfile(stack, "other") != text
    assert dockerfile(stack, "other") == dockerfile(stack, "other")


LOCKFILE_STRICT = {
    "pip": "pip install -r requirements.txt",
    "uv": "uv sync --frozen",
    "poetry": "poetry install --only main --no-root",
    "pdm": "pdm install --check",
    "pipenv": "pipenv install --deploy",
    "npm": "npm ci",
    "yarn": "yarn install --frozen-lockfile|yarn install --immutable",  # classic | berry
    "pnpm": "pnpm install --frozen-lockfile",
    "bun": "bun install --frozen-lockfile",
}


def test_installs_are_lockfile_strict(rendered: tuple[Stack, str]) -> None:
    stack, text = rendered
    if stack.package_manager in LOCKFILE_STRICT:
        flat = re.sub(r"\\\n\s*", " ", text)
        assert any(c in flat for c in LOCKFILE_STRICT[stack.package_manager].split("|"))


def test_python_image_tag_follows_runtime_version() -> None:
    stack = replace(stack_of("python-django"), runtime_version="3.11.2")
    assert "FROM python:3.11.2-slim-bookworm AS build" in dockerfile(stack, "x")


@pytest.mark.parametrize("name", EXAMPLES)
def test_dockerignore_keeps_secrets_and_local_state_out(name: str) -> None:
    stack = stack_of(name)
    lines = set(dockerignore(stack).splitlines())
    assert {".git", ".env", ".env.*", "*.pem"} <= lines
    per_language = {
        "python": {".venv/", "__pycache__/"},
        "node": {"node_modules/", ".next/"},
        "deno": {"node_modules/"},
        "static": {"node_modules/"},
    }
    assert per_language[stack.language] <= lines
