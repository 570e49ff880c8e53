"""The shared ``FakeGitHub`` behaves like the real adapter where handlers depend on it.

The same scenarios run against the fake and against the adapter on the sandbox GitHub, so a
handler test that passes on the fake cannot rely on something the adapter does not do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bot.adapters.github import GitHubAdapter
from bot.core.errors import TransientError
from bot.ports import GitHub, NotFound
from tests.bot.adapters.test_github_sandbox import GitHubWorld, world
from tests.fakes.github import FakeGitHub, fake_sha
from tests.support.github_graphql import GitHubExchangeRecorder
from tests.support.github_openapi import validating_pygithub

__all__ = ["world"]  # the sandbox fixture, shared with the adapter's own tests


@dataclass
class Subject:
    """A ``GitHub`` implementation plus a way to make a branch exist on ``acme/gitops``."""

    gh: GitHub
    make_branch: Callable[[str], str]
    new_issue: Callable[[], int]
    new_pull: Callable[[], int]


@pytest.fixture(params=["fake", "adapter"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "fake":
        fake = FakeGitHub()
        fake.add_repo("acme/shop")
        fake.add_repo("acme/gitops")
        fake.add_pull("acme/shop", 1)

        def fake_branch(name: str) -> str:
            sha = fake_sha("branch", name)
            fake.set_branch("acme/gitops", name, sha)
            return sha

        numbers = iter(range(2, 100))

        def fake_pull() -> int:
            return fake.add_pull("acme/shop", next(numbers)).number

        yield Subject(fake, fake_branch, lambda: 1, fake_pull)
        return
    sandbox: GitHubWorld = request.getfixturevalue("world")
    checked = GitHubExchangeRecorder(base_url=sandbox.url)
    with validating_pygithub(checked):
        adapter: GitHubAdapter = sandbox.adapter()

        def issue() -> int:
            body = {"title": "Deploy", "user": "bob"}
            return int(sandbox.call("POST", "/repos/acme/shop/issues", body)["number"])

        branches = iter(range(1, 100))

        def pull() -> int:
            branch = f"contract-pull-{next(branches)}"
            sandbox.push("acme/shop", branch, {"p.txt": branch}, user="bob")
            return sandbox.open_pull("acme/shop", branch)

        yield Subject(
            adapter, lambda name: sandbox.push("acme/gitops", name, {"f": name}), issue, pull
        )
    checked.assert_conforms()


PORT_METHODS = sorted(
    name for name, value in vars(GitHub).items() if callable(value) and not name.startswith("_")
)


@pytest.mark.parametrize("implementation", [FakeGitHub, GitHubAdapter])
@pytest.mark.parametrize("method", PORT_METHODS)
def test_both_implement_every_port_method_with_its_parameters(
    implementation: type, method: str
) -> None:
    wanted = inspect.signature(getattr(GitHub, method)).parameters
    found = inspect.signature(getattr(implementation, method)).parameters
    assert list(found) == list(wanted)
    assert [p.default for p in found.values()] == [p.default for p in wanted.values()]
    assert [p.kind for p in found.values()] == [p.kind for p in wanted.values()]


def test_one_comment_per_marker(subject: Subject) -> None:
    gh, number = subject.gh, subject.new_issue()
    first = gh.upsert_comment("acme/shop", number, "c-1", "one")
    again = gh.upsert_comment("acme/shop", number, "c-1", "two")
    other = gh.upsert_comment("acme/shop", number, "c-2", "one")
    assert again.id == first.id != other.id


def test_one_open_pull_request_per_head(subject: Subject) -> None:
    gh = subject.gh
    sha = subject.make_branch("autostack/contract")
    first = gh.open_or_update_pr("acme/gitops", "autostack/contract", "main", "T", "B")
    again = gh.open_or_update_pr("acme/gitops", "autostack/contract", "main", "T2", "B")
    assert (first.created, again.created) == (True, False)
    assert again.number == first.number
    assert first.head_sha == sha
    gh.merge_pr("acme/gitops", first.number, "merge")
    subject.make_branch("autostack/contract")
    assert gh.open_or_update_pr("acme/gitops", "autostack/contract", "main", "T", "B").created


def test_one_open_issue_per_marker(subject: Subject) -> None:
    gh = subject.gh
    opened = gh.open_or_update_issue("acme/shop", "drift:contract", "Drift", "a")
    updated = gh.open_or_update_issue("acme/shop", "drift:contract", "Drift", "b")
    assert (opened.created, updated.created, updated.number) == (True, False, opened.number)
    assert gh.close_issue("acme/shop", "drift:contract") is True
    assert gh.close_issue("acme/shop", "drift:contract") is False
    reopened = gh.open_or_update_issue("acme/shop", "drift:contract", "Drift", "c")
    assert reopened.created is True and reopened.number != opened.number
    gh.close_issue("acme/shop", "drift:contract")


def test_missing_things(subject: Subject) -> None:
    gh = subject.gh
    assert gh.read_file("acme/shop", "no/such/file", "main") is None
    assert gh.permission("acme/shop", "stranger-login") == "none"
    assert gh.checks_state("acme/shop", "main") == "none"
    with pytest.raises(NotFound):
        gh.repo("acme/missing")
    with pytest.raises(NotFound):
        gh.pull("acme/shop", 4242)


def test_pull_facts_reads_only_what_is_asked(subject: Subject) -> None:
    gh, number = subject.gh, subject.new_pull()
    bare = gh.pull_facts("acme/shop", number)
    assert (bare.approved, bare.head_checks) == (None, None)
    assert bare.pull == gh.pull("acme/shop", number)
    assert (bare.pull.number, bare.pull.state, bare.pull.merged) == (number, "open", False)
    full = gh.pull_facts("acme/shop", number, approval=True, checks=True)
    assert (full.pull, full.approved, full.head_checks) == (bare.pull, False, "none")
    assert full.head_checks == gh.checks_state("acme/shop", full.pull.head_sha)
    with pytest.raises(NotFound):
        gh.pull_facts("acme/shop", 4242, approval=True, checks=True)


def test_resolve_ref(subject: Subject) -> None:
    gh = subject.gh
    sha = subject.make_branch("contract-resolve")
    assert gh.resolve_ref("acme/gitops", "contract-resolve") == sha
    assert gh.resolve_ref("acme/gitops", sha[:8]) == sha
    with pytest.raises(NotFound):
        gh.resolve_ref("acme/gitops", "contract-missing")


def test_check_run_updates_in_place(subject: Subject) -> None:
    gh = subject.gh
    sha = subject.make_branch("contract-checks")
    first = gh.check_run("acme/gitops", sha, "AutoStack deploy (dev)", "in_progress")
    again = gh.check_run(
        "acme/gitops", sha, "AutoStack deploy (dev)", "completed", "success", existing_id=first
    )
    assert again == first


def test_the_fake_records_calls_and_injects_failures() -> None:
    fake = FakeGitHub()
    fake.add_repo("acme/shop")
    fake.fail("permission", TransientError("rate limited", retry_after=30))
    with pytest.raises(TransientError):
        fake.permission("acme/shop", "bob")
    fake.set_permission("acme/shop", "bob", "maintain")
    assert fake.permission("acme/shop", "bob") == "maintain"
    assert fake.called("permission") == [("acme/shop", "bob"), ("acme/shop", "bob")]
    ref = fake.upsert_comment("acme/shop", 7, "cmd-9", "deploying")
    comment = fake.comment("acme/shop", 7, "cmd-9")
    assert comment is not None and comment.id == ref.id
    assert comment.body == "<!-- autostack:command id=cmd-9 -->\n\ndeploying"
