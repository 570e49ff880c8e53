"""Dockerfiles rendered for the Go, Rust, Java, Ruby, PHP, .NET and Elixir examples pass
hadolint at its default rules and follow the hardening rules every image must keep."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from generators.detect import detect
from generators.dockerfile import dockerfile
from generators.source import SourceTree

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"
PREFIXES = ("go-", "rust-", "java-", "ruby-", "php-", "dotnet-", "elixir-")
EXAMPLES = sorted(p.name for p in APPS.iterdir() if p.is_dir() and p.name.startswith(PREFIXES))
HADOLINT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hadolint"
# An ignore must say why on the comment line right above it.
IGNORE_RE = re.compile(r"^# hadolint ignore=(DL\d{4})(,DL\d{4})*$")


@pytest.fixture(scope="module", params=EXAMPLES)
def rendered(request: pytest.FixtureRequest) -> tuple[str, str]:
    stack = detect(SourceTree(APPS / request.param))
    return request.param, dockerfile(stack, request.param)


def test_examples_cover_every_stack() -> None:
    assert {name.split("-")[0] + "-" for name in EXAMPLES} == set(PREFIXES)


def test_hadolint_finds_nothing(rendered: tuple[str, str]) -> None:
    _name, text = rendered
    result = subprocess.run(
        [str(HADOLINT), "-f", "json", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.stderr == ""
    assert json.loads(result.stdout) == []


def test_ignores_are_argued(rendered: tuple[str, str]) -> None:
    lines = rendered[1].splitlines()
    for index, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert IGNORE_RE.match(line), line
            reason = lines[index - 1]
            assert reason.startswith("#") and len(reason) > 20, f"no reason above {line!r}"


def test_final_stage_runs_as_numeric_non_root_user(rendered: tuple[str, str]) -> None:
    stages = rendered[1].split("\nFROM ")
    assert len(stages) >= 3, "expected a multi-stage build"  # header + build + final
    final = stages[-1]
    assert "\nUSER 10001:10001\n" in final
    # App files stay owned by root so a read-only root filesystem works.
    assert "--chown" not in final
    assert "chown" not in final


def test_no_add_and_exec_form_cmd(rendered: tuple[str, str]) -> None:
    instructions = [ln for ln in rendered[1].splitlines() if ln and not ln.startswith((" ", "#"))]
    assert not any(ln.startswith("ADD ") for ln in instructions)
    cmds = [ln for ln in instructions if ln.startswith("CMD ")]
    assert len(cmds) == 1
    argv = json.loads(cmds[0][len("CMD ") :])
    assert isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
    assert instructions[-1] == cmds[0]


def test_base_images_are_pinned(rendered: tuple[str, str]) -> None:
    froms = re.findall(r"^FROM (\S+)", rendered[1], flags=re.MULTILINE)
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", rendered[1], flags=re.MULTILINE))
    for image in froms:
        if image in stages:
            continue
        name, _, tag = image.rpartition(":")
        assert name and tag, f"{image} has no tag"
        assert tag != "latest" and "/" not in tag


def test_cache_mounts_and_exposed_port(rendered: tuple[str, str]) -> None:
    name, text = rendered
    assert "--mount=type=cache,target=" in text
    stack = detect(SourceTree(APPS / name))
    assert f"\nEXPOSE {stack.port}\n" in text


def test_no_secrets_and_no_migrations_at_start(rendered: tuple[str, str]) -> None:
    text = rendered[1]
    assert not re.search(r"^ARG ", text, flags=re.MULTILINE)
    env_lines = " ".join(re.findall(r"^ENV (.*)$", text, flags=re.MULTILINE))
    assert not re.search(r"(SECRET|TOKEN|PASSWORD|KEY)\w*=", env_lines)
    cmd = re.findall(r"^CMD (.*)$", text, flags=re.MULTILINE)[-1]
    assert "migrate" not in cmd


def test_rendering_is_deterministic(rendered: tuple[str, str]) -> None:
    name, text = rendered
    assert dockerfile(detect(SourceTree(APPS / name)), name) == text
