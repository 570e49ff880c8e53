"""AutoStack's own Dockerfile: hadolint clean, multi-stage on pinned bases, non-root,
read-only-root friendly, healthcheck-able, and its build context holds what it copies.
(No Docker engine runs on the test machines, so the image is linted, not built.)"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def of(keyword: str) -> list[str]:
    return [rest for key, rest in instructions() if key == keyword]


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_would_notice_a_regression(tmp_path: Path) -> None:
    worse = tmp_path / "Dockerfile"
    worse.write_text(DOCKERFILE.read_text().replace('"git=${GIT_VERSION}"', "git curl"))
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(worse)], capture_output=True, text=True, check=False
    )
    assert "DL3008" in result.stdout


def test_multi_stage_on_pinned_bases() -> None:
    args = {k: v for k, _, v in (a.partition("=") for a in of("ARG"))}
    bases = [
        line.split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"]) for line in of("FROM")
    ]
    assert len(bases) >= 3  # kubectl, build, runtime
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
    for base in bases:
        tag = base.rsplit(":", 1)[-1]
        assert ":" in base and tag != "latest" and re.search(r"\d", tag), base
    assert any(base.startswith("registry.k8s.io/kubectl:v1.") for base in bases)


def test_runs_as_a_numeric_non_root_user_with_read_only_friendly_settings() -> None:
    assert of("USER")[-1] == "10001:10001"
    env = " ".join(of("ENV"))
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "AUTOSTACK_DATA_DIR=/var/lib/autostack",
    ):
        assert setting in env
    # Everything copied into the runtime stays root-owned: no --chown anywhere.
    assert not any("--chown" in copy for copy in of("COPY"))
    run = " ".join(of("RUN"))
    assert "git=" in run and "--no-install-recommends" in run
    assert "curl" not in run


def test_healthcheck_and_command_are_exec_form() -> None:
    (healthcheck,) = of("HEALTHCHECK")
    probe = json.loads(healthcheck.split("CMD", 1)[1])
    assert probe[0] == "python" and "http://127.0.0.1:8000/healthz" in probe[-1]
    assert json.loads(of("CMD")[-1]) == [
        "autostack",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    assert of("EXPOSE") == ["8000"]
    labels = " ".join(of("LABEL"))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def included(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (last match wins)."""
    keep = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/") or body == "**":
            keep = negated
    return keep


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_more() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for copy in of("COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            source = source.rstrip("/")
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert included(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for private in (".git", ".venv", "tests", ".autostack", "bot/__pycache__/x.pyc"):
        assert not included(private, patterns), f"{private} would be sent to the builder"
