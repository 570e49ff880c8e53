"""Which code a ``/deploy`` may ship, end to end through the comment handler: the reviewed
head of a pull request or merged code where approval is required, and never a fork's commit
named by sha or ref, against the fake GitHub and a real app repository whose clone holds
its branches.

The app repository is laid out as GitHub keeps one: ``main``, two branches, and a fork's
commit reachable only from ``refs/pull/12/head`` (GitHub resolves such a commit through the
parent repository by sha, which is what made it deployable).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.adapters.clock import FakeClock
from bot.deploy.records import Deployment
from bot.store import DEPLOYMENT_STATES, Store
from tests.bot.handlers.apprepo import AppRepository
from tests.bot.handlers.commenting import comment
from tests.bot.watch.harness import APP, APP_REPO, Bot

PR = 7  # a pull request from a branch of the app repository, approved
FORK_PR = 12  # a pull request from outsider/shop
ISSUE = 30


@dataclass(frozen=True)
class Shas:
    old_main: str  # an ancestor of main's head
    main: str
    unreviewed: str  # head of feature/unreviewed, no pull request
    pr_head: str  # head of feature-7, the head of PR 7
    pr_older: str  # an earlier commit of feature-7
    fork: str  # the head of the fork's pull request 12, on no branch of acme/shop


@dataclass
class World:
    bot: Bot
    shas: Shas

    def say(self, body: str, *, sender: str = "alice", on: int = PR) -> str:
        return comment(self.bot, body, sender=sender, issue=on, on_pr=on != ISSUE)

    def deployed(self) -> list[Deployment]:
        return self.bot.records.find(states=set(DEPLOYMENT_STATES), app=APP)


def app_repository(app: AppRepository) -> Shas:
    """Lay the app repository out as the module docstring says; the shas of its commits."""
    old_main = app.commit("one")
    main = app.commit("two")
    unreviewed = app.commit("unreviewed", branch="feature/unreviewed", start="main")
    pr_older = app.commit("pr-one", branch="feature-7", start="main")
    pr_head = app.commit("pr-two", branch="feature-7")
    fork = app.commit("fork", branch="fork-fix", start="main")
    for branch in ("main", "feature/unreviewed", "feature-7"):
        app.push(branch)
    app.push("fork-fix", f"refs/pull/{FORK_PR}/head")
    return Shas(old_main, main, unreviewed, pr_head, pr_older, fork)


@pytest.fixture
def world(tmp_path: Path, template: Path, sqlite_store: Store, clock: FakeClock) -> Iterator[World]:
    bot = Bot(tmp_path, template, sqlite_store, clock)
    github = bot.github
    shas = app_repository(AppRepository(tmp_path, github, APP_REPO))
    github.add_pull(APP_REPO, PR, head_sha=shas.pr_head, head_ref="feature-7")
    github.set_approved(APP_REPO, PR)
    github.add_pull(
        APP_REPO,
        FORK_PR,
        head_sha=shas.fork,
        head_ref="fix",
        head_repo_full_name="outsider/shop",
        is_fork=True,
        author="outsider",
    )
    # Every commit is built and green, so only the rule under test can refuse.
    for sha in (shas.old_main, shas.main, shas.unreviewed, shas.pr_head, shas.pr_older, shas.fork):
        github.set_build(APP_REPO, sha)
        github.set_checks(APP_REPO, sha, "success")
    github.set_permission(APP_REPO, "alice", "maintain")
    github.set_permission(APP_REPO, "dev", "write")
    try:
        yield World(bot, shas)
    finally:
        bot.close()


def refused(answer: str) -> bool:
    return "refused" in answer.lower()


# -- an approval covers the head it was given to ----------------------------------------------


def test_an_approved_pull_request_does_not_deploy_another_branch_to_prod(world: World) -> None:
    answer = world.say("/deploy prod feature/unreviewed")
    assert refused(answer)
    assert "`feature/unreviewed` (commit" in answer
    assert f"is not this pull request's head (`{world.shas.pr_head[:7]}`)" in answer
    assert world.deployed() == []


@pytest.mark.parametrize("ref", ["pr_older", "unreviewed"])
def test_an_approved_pull_request_does_not_deploy_another_commit_to_prod(
    world: World, ref: str
) -> None:
    sha = getattr(world.shas, ref)
    answer = world.say(f"/deploy prod {sha[:10]}")
    assert refused(answer) and "is not this pull request's head" in answer
    assert world.deployed() == []


@pytest.mark.parametrize("ref", [None, "feature-7", "pr_head"])
def test_an_approved_pull_request_deploys_its_head_to_prod(world: World, ref: str | None) -> None:
    named = getattr(world.shas, ref) if ref == "pr_head" else ref
    answer = world.say(f"/deploy prod {named or ''}".strip())
    assert not refused(answer), answer
    [deployment] = world.deployed()
    assert deployment.source_sha == world.shas.pr_head


@pytest.mark.parametrize("ref", ["main", "old_main"])
def test_merged_code_deploys_to_prod_from_a_pull_request(world: World, ref: str) -> None:
    named = ref if ref == "main" else world.shas.old_main
    answer = world.say(f"/deploy prod {named}")
    assert not refused(answer), answer
    [deployment] = world.deployed()
    assert deployment.source_sha == getattr(world.shas, ref)


# -- merged code needs no pull request ---------------------------------------------------------


@pytest.mark.parametrize("command", ["/deploy prod main", "/deploy prod"])
def test_the_default_branch_deploys_to_prod_from_an_issue(world: World, command: str) -> None:
    answer = world.say(command, on=ISSUE)
    assert not refused(answer), answer
    [deployment] = world.deployed()
    assert deployment.source_sha == world.shas.main


def test_an_older_commit_of_the_default_branch_deploys_to_prod_from_an_issue(
    world: World,
) -> None:
    answer = world.say(f"/deploy prod {world.shas.old_main}", on=ISSUE)
    assert not refused(answer), answer
    assert [d.source_sha for d in world.deployed()] == [world.shas.old_main]


def test_the_default_branch_still_needs_green_checks_and_permission(world: World) -> None:
    world.bot.github.set_checks(APP_REPO, world.shas.main, "failure")
    answer = world.say("/deploy prod main", on=ISSUE, sender="dev")
    assert refused(answer)
    assert "you have write" in answer.lower() and "failed" in answer
    assert "reviewed code" not in answer
    assert world.deployed() == []


def test_an_unmerged_branch_does_not_deploy_to_prod_from_an_issue(world: World) -> None:
    answer = world.say("/deploy prod feature/unreviewed", on=ISSUE)
    assert refused(answer) and "requires reviewed code" in answer
    assert world.deployed() == []


# -- a fork's commit is deployed from its pull request only --------------------------------------


@pytest.mark.parametrize("sender", ["dev", "alice"])
@pytest.mark.parametrize("named", ["sha", "ref"])
def test_a_forks_commit_named_on_an_issue_is_refused(world: World, sender: str, named: str) -> None:
    ref = world.shas.fork if named == "sha" else f"pull/{FORK_PR}/head"
    answer = world.say(f"/deploy dev {ref}", sender=sender, on=ISSUE)
    assert refused(answer)
    assert f"ommit `{world.shas.fork[:7]}`" in answer, answer
    assert f"is not on any branch of {APP_REPO}, so it may be a fork's code" in answer
    assert "deploy it from its pull request" in answer
    assert world.deployed() == []


def test_a_forks_commit_named_on_another_pull_request_is_refused(world: World) -> None:
    answer = world.say(f"/deploy staging {world.shas.fork}", sender="dev")
    assert refused(answer) and f"is not on any branch of {APP_REPO}" in answer
    assert world.deployed() == []


def test_the_repositorys_own_branches_deploy_where_no_approval_is_needed(world: World) -> None:
    assert not refused(world.say("/deploy dev feature/unreviewed", sender="dev", on=ISSUE))
    # An earlier commit of the pull request's own branch, named on that pull request.
    assert not refused(world.say(f"/deploy staging {world.shas.pr_older}", sender="dev"))
    assert [(d.env, d.source_sha) for d in world.deployed()] == [
        ("dev", world.shas.unreviewed),
        ("staging", world.shas.pr_older),
    ]


def test_a_forks_pull_request_is_deployed_at_a_maintainers_request_only(world: World) -> None:
    refusal = world.say("/deploy dev", sender="dev", on=FORK_PR)
    assert refused(refusal) and "comes from a fork" in refusal
    assert world.deployed() == []
    answer = world.say("/deploy dev", sender="alice", on=FORK_PR)
    assert not refused(answer), answer
    assert [d.source_sha for d in world.deployed()] == [world.shas.fork]


def test_promoting_a_forks_code_from_an_issue_is_refused(world: World) -> None:
    assert not refused(world.say("/deploy dev", sender="alice", on=FORK_PR))
    answer = world.say("/promote dev staging", sender="alice", on=ISSUE)
    assert refused(answer) and f"is not on any branch of {APP_REPO}" in answer
    assert [d.env for d in world.deployed()] == ["dev"]
