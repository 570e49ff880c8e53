"""Reading the apps of a GitOps repository that ``autostack init`` and ``autostack generate``
wrote: each app's source repository and image, or a clear error when one is unknown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cloud.desired import AppTarget, SetupInputError
from bot.cloud.gitops_apps import read_apps, targets
from generators import cli_generate, initrepo

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
ECR = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team"


def generate(gitops: Path, name: str, registry: str, source: str | None) -> None:
    """``autostack generate`` of a copy of a fixture app (it writes into the app too)."""
    app_dir = gitops.parent / "apps" / name
    shutil.copytree(APPS / "docker-python", app_dir)
    cli_generate.run(
        app_dir,
        gitops,
        name=name,
        path=None,
        registry=registry,
        source_repo=source,
        dry_run=False,
        out=lambda _: None,
    )


@pytest.fixture
def gitops(tmp_path: Path) -> Path:
    root = tmp_path / "gitops"
    initrepo.init_repository(root, repo_url="https://github.com/acme/gitops.git", force=False)
    generate(root, "shop", ECR, "acme/shop")
    generate(root, "blog", "ghcr.io/acme", "acme/blog")
    generate(root, "legacy", "ghcr.io/acme", None)
    return root


def test_the_source_repository_and_image_come_from_what_generate_wrote(gitops: Path) -> None:
    apps = {a.app: a for a in read_apps(gitops)}
    assert apps["shop"].source_repos == ("acme/shop",)
    assert apps["shop"].images == (f"{ECR}/shop",)
    assert apps["blog"].images == ("ghcr.io/acme/blog",)
    assert apps["legacy"].source_repos == ()
    assert targets(read_apps(gitops), only="shop") == [
        AppTarget("shop", "acme/shop", f"{ECR}/shop")
    ]


def test_an_app_without_a_recorded_source_needs_repo(gitops: Path) -> None:
    apps = read_apps(gitops)
    with pytest.raises(SetupInputError, match="no source repository is recorded for legacy"):
        targets(apps)
    assert targets(apps, only="legacy", repo="acme/legacy") == [
        AppTarget("legacy", "acme/legacy", "ghcr.io/acme/legacy")
    ]
    with pytest.raises(SetupInputError, match="needs --app"):
        targets(apps, repo="acme/legacy")
    with pytest.raises(SetupInputError, match="no app 'nope'"):
        targets(apps, only="nope")


def test_a_folder_that_is_no_gitops_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SetupInputError, match="no apps/ folder"):
        read_apps(tmp_path)
