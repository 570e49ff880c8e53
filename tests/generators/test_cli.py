"""The ``autostack`` command as a user runs it: init, generate, --dry-run, --help."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.generators.generate_support import APPS, REPO_URL

AUTOSTACK = [str(Path(sys.executable).parent / "autostack")]  # the installed console script


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUTOSTACK, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def commits(repo: Path) -> int:
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def test_init_creates_a_committed_repository_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    gitops = tmp_path / "gitops"
    first = run("init", gitops, "--repo-url", REPO_URL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (gitops / "autostack.yaml").is_file() and (gitops / "argocd" / "root.yaml").is_file()
    assert commits(gitops) == 1
    before = tree(gitops)
    again = run("init", gitops, "--repo-url", REPO_URL, cwd=tmp_path)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert tree(gitops) == before and commits(gitops) == 1


def test_init_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "README.md").write_text("mine\n")
    refused = run("init", target, "--repo-url", REPO_URL, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"autostack: error: {target}: is not empty (use --force to add the GitOps files to it)"
    ]
    assert [p.name for p in target.iterdir()] == ["README.md"]
    forced = run("init", target, "--repo-url", REPO_URL, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (target / "README.md").read_text() == "mine\n"  # never overwritten
    assert (target / "autostack.yaml").is_file()


def test_init_needs_a_repo_url(tmp_path: Path) -> None:
    result = run("init", tmp_path / "new", cwd=tmp_path)
    assert result.returncode == 2 and "--repo-url: is required" in result.stderr
    assert not (tmp_path / "new").exists()


def test_generate_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    gitops = tmp_path / "gitops"
    assert run("init", gitops, "--repo-url", REPO_URL, cwd=tmp_path).returncode == 0
    app = tmp_path / "shop"
    shutil.copytree(APPS / "python-fastapi-uv", app, ignore=shutil.ignore_patterns("expected.json"))
    app_before, gitops_before = tree(app), tree(gitops)
    args = ("generate", app, "--gitops", gitops, "--registry", "ghcr.io/acme")
    dry = run(*args, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "App shop: python" in dry.stdout
    assert "+++ b/apps/shop/overlays/prod/kustomization.yaml" in dry.stdout
    assert "+++ b/Dockerfile" in dry.stdout
    assert tree(app) == app_before and tree(gitops) == gitops_before
    real = run(*args, cwd=tmp_path)
    assert real.returncode == 0 and "created  gitops: argocd/apps/shop-prod.yaml" in real.stdout
    again = run(*args, cwd=tmp_path)
    assert "Nothing to change" in again.stdout
    assert run(*args, "--dry-run", cwd=tmp_path).stdout.rstrip().endswith("No changes.")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["generate"],
        ["serve"],
        ["deliveries"],
        ["audit"],
        ["sandbox", "up"],
        ["demo"],
    ],
)
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: autostack" in result.stdout
