"""Bad input to ``autostack generate``: one line naming the file, exit 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generators import initrepo
from tests.generators.generate_support import REPO_URL

AUTOSTACK = [sys.executable, "-m", "bot.cli"]
Setup = Callable[[Path], None]


def _files(name: str, content: bytes | str) -> Setup:
    def setup(app: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (app / name).write_bytes(data)

    return setup


def _symlink_loop(app: Path) -> None:
    os.symlink("package.json", app / "package.json")


def _dangling(app: Path) -> None:
    os.symlink("missing/package.json", app / "package.json")


def _outside_link(app: Path) -> None:
    os.symlink("/etc/hostname", app / "requirements.txt")


CASES: list[tuple[str, Setup, str]] = [
    (
        "malformed-package-json",
        _files("package.json", '{"name": "x",,}'),
        "package.json: malformed JSON at line 1",
    ),
    (
        "malformed-pyproject",
        _files("pyproject.toml", "[project\nname='x'"),
        "pyproject.toml: malformed TOML",
    ),
    ("malformed-go-mod", _files("go.mod", "module\ngo one.two\n"), "go.mod:"),
    (
        "binary-package-json",
        _files("package.json", b"{\x00\x01}"),
        "package.json: is a binary file",
    ),
    (
        "huge-requirements",
        _files("requirements.txt", "flask\n" * 300_000),
        "requirements.txt: is too large",
    ),
    ("symlink-loop", _symlink_loop, "package.json: symlink loop"),
    ("dangling-symlink", _dangling, "package.json: cannot open"),
    ("link-outside-app", _outside_link, "requirements.txt: symlink points outside"),
    ("unknown-stack", _files("notes.txt", "hello"), "no supported stack found"),
    ("bad-app-config", _files(".github/autostack.yml", "port: [1"), "malformed YAML"),
]


def _snapshot(*roots: Path) -> dict[str, bytes | None]:
    seen: dict[str, bytes | None] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            key = str(path)
            if path.is_symlink() or path.is_dir():
                seen[key] = None
            else:
                seen[key] = path.read_bytes()
    return seen


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUTOSTACK, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )


@pytest.fixture
def gitops(tmp_path: Path) -> Path:
    path = tmp_path / "gitops"
    initrepo.init_repository(path, repo_url=REPO_URL)
    return path


@pytest.mark.parametrize(("case", "setup", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_app_is_refused(
    case: str, setup: Setup, message: str, tmp_path: Path, gitops: Path
) -> None:
    app = tmp_path / "app"
    (app / ".github").mkdir(parents=True)
    setup(app)
    before = _snapshot(app, gitops)
    result = _run(
        ["generate", str(app), "--gitops", str(gitops), "--registry", "ghcr.io/a"], tmp_path
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("autostack: error: ")
    assert message in lines[0]
    assert _snapshot(app, gitops) == before


@pytest.mark.parametrize(
    "name", ["My App", "../etc", "a/b", "x\ny", "a: b", "shop{}", "-shop", "x" * 64]
)
def test_bad_app_name_is_refused(name: str, tmp_path: Path, gitops: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text("<h1>hi</h1>\n")
    before = _snapshot(app, gitops)
    result = _run(
        ["generate", str(app), "--gitops", str(gitops), "--registry", "ghcr.io/a", "--name", name],
        tmp_path,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "app name" in result.stderr
    assert _snapshot(app, gitops) == before


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing-dir", "not found"), ("a-file", "is not a directory")],
)
def test_app_path_must_be_a_directory(
    target: str, message: str, tmp_path: Path, gitops: Path
) -> None:
    (tmp_path / "a-file").write_text("x")
    result = _run(
        ["generate", str(tmp_path / target), "--gitops", str(gitops), "--registry", "ghcr.io/a"],
        tmp_path,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_gitops_dir_must_be_initialised(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text("<h1>hi</h1>\n")
    empty = tmp_path / "not-gitops"
    empty.mkdir()
    result = _run(
        ["generate", str(app), "--gitops", str(empty), "--registry", "ghcr.io/a"], tmp_path
    )
    assert result.returncode == 2
    assert "is not a GitOps repository" in result.stderr
    assert "autostack init" in result.stderr
    assert list(empty.iterdir()) == []
