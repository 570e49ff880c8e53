"""``setup.run`` over recording fakes of its two ports: what happens when GitHub cannot be
asked or refuses, and how a failure part-way is told. AWS itself is covered against moto."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.adapters.github.errors import Forbidden
from bot.cloud import setup
from bot.cloud.desired import Account, AppTarget, Desired, Options, SetupInputError
from bot.cloud.explain import CloudError
from bot.cloud.plan import Change, CreateRole, Observed, SetRepoVariable
from bot.core.errors import TransientError
from bot.ports import NotFound

ACCOUNT = Account("111122223333", "eu-west-1")
ROLE_ARN = "arn:aws:iam::111122223333:role/autostack-acme-shop"


@dataclass
class FakeCloud:
    """An empty account that records what it is asked to apply; ``deny`` fails one kind."""

    applied: list[Change] = field(default_factory=list)
    deny: type | None = None

    def whoami(self) -> tuple[Account, str]:
        return ACCOUNT, "arn:aws:iam::111122223333:user/me"

    def observe(self, desired: Desired) -> Observed:
        return Observed({}, None, {})

    def apply(self, change: Change) -> None:
        if self.deny is not None and isinstance(change, self.deny):
            raise CloudError(f"AWS denied {type(change).__name__}")
        self.applied.append(change)


@dataclass
class FakeGitHub:
    installed: bool = True
    can_read: bool = True
    can_write: bool = True
    written: list[SetRepoVariable] = field(default_factory=list)

    def repo_facts(self, repo: str) -> tuple[str, str]:
        if not self.installed:
            raise NotFound("GitHub answered 404 to read it")
        return repo.lower(), "trunk"

    def read(self, repo: str, name: str) -> str | None:
        if not self.can_read:
            raise Forbidden("GitHub answered 403: Resource not accessible by integration")
        return None

    def write(self, change: SetRepoVariable) -> None:
        if not self.can_write:
            raise TransientError("GitHub answered 502 to set the variable")
        self.written.append(change)


def run(
    cloud: FakeCloud, github: FakeGitHub | None, *, dry_run: bool = False
) -> tuple[int, list[str]]:
    request = setup.Request((AppTarget("shop", "Acme/Shop"),), Options(), dry_run=dry_run)
    lines: list[str] = []
    return setup.run(request, cloud, github, lines.append), lines


def test_the_app_gives_the_branch_and_the_spelling_and_sets_the_variable() -> None:
    cloud, github = FakeCloud(), FakeGitHub()
    code, lines = run(cloud, github)
    assert code == 0
    assert [w.repo for w in github.written] == ["acme/shop"]
    assert "refs/heads/trunk" in str(cloud.applied)
    assert "Left to do by hand:" not in lines


def test_a_dry_run_applies_nothing_anywhere() -> None:
    cloud, github = FakeCloud(), FakeGitHub()
    code, lines = run(cloud, github, dry_run=True)
    assert code == 0 and cloud.applied == [] and github.written == []
    assert "Dry run: nothing was changed." in lines


def test_an_app_without_the_variables_permission_leaves_the_gh_command() -> None:
    cloud, github = FakeCloud(), FakeGitHub(can_read=False)
    code, lines = run(cloud, github)
    assert code == 0 and github.written == []
    step = lines[lines.index("Left to do by hand:") + 1]
    assert "grant it the Variables repository permission (read and write)" in step
    assert lines[lines.index("Left to do by hand:") + 2] == (
        f"      gh variable set AUTOSTACK_AWS_ROLE_ARN --repo acme/shop --body {ROLE_ARN}"
    )


def test_a_repository_without_the_app_falls_back_to_main_and_says_so() -> None:
    code, lines = run(FakeCloud(), FakeGitHub(installed=False))
    assert code == 0
    assert (
        "The default branch of Acme/Shop is taken to be main (the GitHub App is not installed "
        "on Acme/Shop); pass --branch if it is another." in lines
    )


def test_a_failure_part_way_says_how_far_it_got() -> None:
    cloud = FakeCloud(deny=CreateRole)
    lines: list[str] = []
    request = setup.Request((AppTarget("shop", "acme/shop"),), Options(), branch="main")
    with pytest.raises(CloudError, match="AWS denied CreateRole"):
        setup.run(request, cloud, None, lines.append)
    assert lines[-1] == "Stopped after 2 of 4 changes."


def test_a_variable_github_refuses_to_write_ends_with_the_gh_command() -> None:
    with pytest.raises(CloudError) as failure:
        run(FakeCloud(), FakeGitHub(can_write=False))
    assert str(failure.value).endswith(
        f"set it by hand: gh variable set AUTOSTACK_AWS_ROLE_ARN --repo acme/shop --body {ROLE_ARN}"
    )


def test_overlays_that_deploy_from_another_registry_stop_everything() -> None:
    image = "999999999999.dkr.ecr.us-east-1.amazonaws.com/autostack/shop"
    request = setup.Request((AppTarget("shop", "acme/shop", image),), Options(), branch="main")
    cloud = FakeCloud()
    with pytest.raises(SetupInputError, match="credentials and region are for 111122223333"):
        setup.run(request, cloud, None, lambda _: None)
    assert cloud.applied == []
