"""The GitHub adapter against the sandbox GitHub: every port method, every exchange checked
against GitHub's OpenAPI description, API calls counted from the sandbox's request log, and
faults (server errors, rate limits, a wrong key) surfacing as the right error.

``GitHubWorld`` is also how ``test_github_replay.py`` records its cassettes.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bot.adapters.clock import FakeClock
from bot.adapters.github import GitHubAdapter
from bot.core.errors import PermanentError, TransientError
from bot.core.messages import marker
from bot.ports import NotFound
from sandbox.github import GitHubState, create_app
from sandbox.github.identity import generate_private_key_pem
from sandbox.serving import ThreadedServer
from tests.support.github_graphql import GitHubExchangeRecorder
from tests.support.github_openapi import validating_pygithub

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USERS = {"alice": None, "bob": "write", "carol": "maintain", "dave": "triage", "erin": "read"}
T = TypeVar("T")


class GitHubWorld:
    """A sandbox GitHub on a fake clock: org ``acme`` (owner alice) with ``acme/shop`` and
    ``acme/gitops``, the App installed on both, and people with every permission level."""

    def __init__(self, data_dir: Path, clock: FakeClock):
        self.clock = clock
        self.state = GitHubState.open(data_dir, clock=lambda: clock.now().timestamp())
        self.server = ThreadedServer(create_app(self.state)).start()
        self.url = self.server.url
        self.control = httpx.Client(base_url=f"{self.url}/_sandbox", timeout=30)
        self.tokens: dict[str, str] = {}
        self.recorder = GitHubExchangeRecorder(base_url=self.url)

    def populate(self) -> GitHubWorld:
        for login in USERS:
            self.tokens[login] = self.call("POST", "/users", {"login": login})["token"]
        self.call("POST", "/users", {"login": "mallory"})
        self.call("POST", "/orgs", {"login": "acme"})
        shop = {"README.md": "shop\n", "app.py": "print('shop')\n", "big/data.txt": "x" * 5000}
        self.call("POST", "/repos", {"owner": "acme", "name": "shop", "files": shop})
        self.call("POST", "/repos", {"owner": "acme", "name": "gitops", "files": {"a": "1\n"}})
        for login, permission in USERS.items():
            role = permission or "admin"
            self.call("PUT", f"/repos/acme/shop/permissions/{login}", {"permission": role})
        self.call("PUT", "/repos/acme/gitops/permissions/alice", {"permission": "admin"})
        self.call("POST", "/installations", {"account": "acme", "repositories": ["shop", "gitops"]})
        return self

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.control.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def rest(self, user: str) -> httpx.Client:
        headers = {"Authorization": f"token {self.tokens[user]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def push(self, repo: str, branch: str, files: dict[str, str], user: str = "alice") -> str:
        body = {"branch": branch, "files": files, "message": f"Change {branch}", "user": user}
        return str(self.call("POST", f"/repos/{repo}/push", body)["sha"])

    def open_pull(self, repo: str, head: str, user: str = "bob", **extra: Any) -> int:
        body = {"head": head, "title": f"Change {head}", "user": user, **extra}
        return int(self.call("POST", f"/repos/{repo}/pulls", body)["number"])

    def review(self, repo: str, number: int, user: str, event: str) -> None:
        self.call("POST", f"/repos/{repo}/pulls/{number}/reviews", {"user": user, "event": event})

    def fault(self, **rule: Any) -> None:
        self.call("POST", "/faults", rule)

    def requests(self, method: str = "*", route: str = "*") -> list[dict[str, Any]]:
        return self.state.requests.entries(method, route)

    def settle(self) -> None:
        """Wait until requests already answered are in the log (it is written just after)."""
        seen = -1
        while (count := len(self.requests())) != seen:
            seen = count
            time.sleep(0.02)

    def reset_requests(self) -> None:
        self.state.requests.reset()

    def adapter(self, **kwargs: Any) -> GitHubAdapter:
        key = kwargs.pop("private_key", self.state.private_key_pem)
        return GitHubAdapter(self.url, self.state.app_id, key, self.clock, **kwargs)

    def close(self) -> None:
        self.control.close()
        self.server.stop()
        self.state.close()


def counted(world: GitHubWorld, action: Callable[[], T]) -> tuple[T, list[str]]:
    """``action()``'s result and the API calls it made, as ``METHOD route`` lines."""
    world.settle()
    world.reset_requests()
    before = len(world.recorder.exchanges)
    result = action()
    made = len(world.recorder.exchanges) - before
    # The sandbox logs a request just after answering it: wait for the last entries.
    deadline = time.monotonic() + 5
    while len(world.requests()) < made and time.monotonic() < deadline:
        time.sleep(0.005)
    return result, [f"{e['method']} {e['route']}" for e in world.requests()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubWorld]:
    built = GitHubWorld(tmp_path_factory.mktemp("github"), FakeClock(START)).populate()
    yield built
    built.close()


@pytest.fixture
def recorder(world: GitHubWorld) -> Iterator[GitHubExchangeRecorder]:
    """Every exchange PyGithub makes in the test, checked against GitHub's description."""
    checked = world.recorder = GitHubExchangeRecorder(base_url=world.url)
    with validating_pygithub(checked):
        yield checked
    world.call("DELETE", "/faults", {})
    checked.assert_conforms()


@pytest.fixture
def gh(world: GitHubWorld, recorder: GitHubExchangeRecorder) -> GitHubAdapter:
    return world.adapter()


# --- authentication ------------------------------------------------------------------


def test_installation_token_is_cached_until_five_minutes_before_expiry(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    token, calls = counted(world, lambda: gh.installation_token("acme/shop"))
    assert calls == [
        "GET /repos/{owner}/{repo}/installation",
        "POST /app/installations/{installation_id}/access_tokens",
    ]
    assert world.rest("alice").get("/repos/acme/shop").status_code == 200
    again, calls = counted(world, lambda: gh.installation_token("acme/shop"))
    assert (again, calls) == (token, [])
    # Same installation for the GitOps repo: neither lookup nor token is repeated... almost:
    # the repository's installation is looked up once per repository.
    _, calls = counted(world, lambda: gh.installation_token("acme/gitops"))
    assert calls == ["GET /repos/{owner}/{repo}/installation"]
    world.clock.advance(minutes=54)  # the token lives 60 minutes
    assert counted(world, lambda: gh.installation_token("acme/shop")) == (token, [])
    world.clock.advance(minutes=1, seconds=1)
    fresh, calls = counted(world, lambda: gh.installation_token("acme/shop"))
    assert fresh != token
    assert calls == ["POST /app/installations/{installation_id}/access_tokens"]
    listed = httpx.get(
        f"{world.url}/installation/repositories", headers={"Authorization": f"token {fresh}"}
    )
    assert {r["full_name"] for r in listed.json()["repositories"]} == {"acme/shop", "acme/gitops"}


def test_the_jwt_is_short_lived_and_backdated(world: GitHubWorld, gh: GitHubAdapter) -> None:
    import jwt

    from bot.adapters.github.auth import ClockedAppAuth

    auth = ClockedAppAuth(world.state.app_id, world.state.private_key_pem, world.clock)
    claims = jwt.decode(auth.token, options={"verify_signature": False})
    now = int(world.clock.now().timestamp())
    assert (claims["iat"], claims["exp"], claims["iss"]) == (
        now - 60,
        now + 540,
        str(world.state.app_id),
    )


def test_a_wrong_key_is_permanent_with_a_hint_and_no_secret(world: GitHubWorld) -> None:
    other_key = generate_private_key_pem()
    with validating_pygithub(GitHubExchangeRecorder(base_url=world.url)) as checked:
        gh = world.adapter(private_key=other_key)
        with pytest.raises(PermanentError) as caught:
            gh.installation_token("acme/shop")
    checked.assert_conforms()
    text = str(caught.value)
    assert "401" in text and "AUTOSTACK_GITHUB_APP_ID" in text
    assert "BEGIN" not in text and "eyJ" not in text


def test_a_repository_without_the_app_is_not_found(world: GitHubWorld, gh: GitHubAdapter) -> None:
    world.call("POST", "/users", {"login": "zed"})
    world.call("POST", "/repos", {"owner": "zed", "name": "solo"})
    with pytest.raises(NotFound) as caught:
        gh.repo("zed/solo")
    assert "not installed" in str(caught.value)
    with pytest.raises(PermanentError):
        gh.repo("not-a-repo-name")


# --- reading -------------------------------------------------------------------------


def test_repo_info_comes_from_github_and_is_cached(world: GitHubWorld, gh: GitHubAdapter) -> None:
    gh.installation_token("acme/shop")
    info, calls = counted(world, lambda: gh.repo("acme/shop"))
    assert calls == ["GET /repos/{owner}/{repo}"]
    assert info.full_name == "acme/shop"
    assert (info.owner, info.name, info.default_branch, info.private) == (
        "acme",
        "shop",
        "main",
        True,
    )
    assert info.clone_url == f"{world.url}/acme/shop.git"
    assert info.html_url == f"{world.url}/acme/shop"
    assert counted(world, lambda: gh.repo("ACME/shop")) == (info, [])
    world.clock.advance(minutes=6)
    _, calls = counted(world, lambda: gh.repo("acme/shop"))
    assert calls == ["GET /repos/{owner}/{repo}"]


def test_read_file(world: GitHubWorld, gh: GitHubAdapter) -> None:
    sha = world.push("acme/shop", "feature/read", {"conf/app.yml": "port: 8080\n"})
    assert gh.read_file("acme/shop", "app.py", "main") == b"print('shop')\n"
    assert gh.read_file("acme/shop", "big/data.txt", "main") == b"x" * 5000
    assert gh.read_file("acme/shop", "conf/app.yml", "main") is None
    assert gh.read_file("acme/shop", "conf/app.yml", "feature/read") == b"port: 8080\n"
    assert gh.read_file("acme/shop", "/conf/app.yml", sha) == b"port: 8080\n"
    assert gh.read_file("acme/shop", "conf", sha) is None  # a directory is not a file


def test_resolve_ref_gives_the_full_sha(world: GitHubWorld, gh: GitHubAdapter) -> None:
    sha = world.push("acme/shop", "feature/resolve", {"v.txt": "v\n"})
    assert gh.resolve_ref("acme/shop", "feature/resolve") == sha
    assert gh.resolve_ref("acme/shop", sha[:7]) == sha
    assert gh.resolve_ref("acme/shop", sha) == sha
    for unknown in ("no-such-branch", "0" * 40, "deadbee"):
        with pytest.raises(NotFound):
            gh.resolve_ref("acme/shop", unknown)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice", "admin"),
        ("carol", "maintain"),
        ("bob", "write"),
        ("dave", "triage"),
        ("erin", "read"),
        ("mallory", "none"),
        ("nobody-at-all", "none"),
    ],
)
def test_permission_uses_the_role_name(gh: GitHubAdapter, user: str, expected: str) -> None:
    assert gh.permission("acme/shop", user) == expected


def test_pull_from_the_same_repository_and_from_a_fork(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/pull", {"x.txt": "x\n"}, user="bob")
    number = world.open_pull("acme/shop", "feature/pull")
    pull = gh.pull("acme/shop", number)
    assert (pull.number, pull.state, pull.merged, pull.is_fork) == (number, "open", False, False)
    assert (pull.head_sha, pull.head_ref, pull.base_ref) == (sha, "feature/pull", "main")
    assert (pull.head_repo_full_name, pull.author) == ("acme/shop", "bob")
    assert pull.html_url == f"{world.url}/acme/shop/pull/{number}"

    world.call("POST", "/repos/acme/shop/forks", {"owner": "mallory"})
    world.push("mallory/shop", "evil", {"x.txt": "evil\n"}, user="mallory")
    forked = world.open_pull("acme/shop", "evil", user="mallory", head_owner="mallory")
    fork_pull = gh.pull("acme/shop", forked)
    assert fork_pull.is_fork is True
    assert fork_pull.head_repo_full_name == "mallory/shop"
    with pytest.raises(NotFound):
        gh.pull("acme/shop", 9999)


def test_approval_takes_each_reviewers_latest_verdict(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    world.push("acme/shop", "feature/review", {"r.txt": "r\n"}, user="bob")
    number = world.open_pull("acme/shop", "feature/review")

    def approved() -> bool | None:
        return gh.pull_facts("acme/shop", number, approval=True).approved

    assert approved() is False
    world.review("acme/shop", number, "carol", "APPROVE")
    assert approved() is True
    world.review("acme/shop", number, "alice", "REQUEST_CHANGES")
    assert approved() is False
    world.review("acme/shop", number, "alice", "COMMENT")  # a comment changes no verdict
    assert approved() is False
    world.review("acme/shop", number, "alice", "APPROVE")
    assert approved() is True


def test_checks_state_combines_statuses_and_runs_but_not_our_own(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/checks", {"c.txt": "c\n"})
    assert gh.checks_state("acme/shop", sha) == "none"
    # AutoStack's own check runs and statuses never gate its own deployments.
    gh.check_run("acme/shop", sha, "AutoStack deploy (prod)", "completed", "failure", "Failed")
    assert gh.checks_state("acme/shop", sha) == "none"

    def status(state: str, context: str) -> None:
        body = {"state": state, "context": context}
        answer = world.rest("bob").post(f"/repos/acme/shop/statuses/{sha}", json=body)
        assert answer.status_code == 201, answer.text

    status("pending", "ci/lint")
    assert gh.checks_state("acme/shop", sha) == "pending"
    status("success", "ci/lint")
    assert gh.checks_state("acme/shop", sha) == "success"
    status("failure", "ci/test")
    assert gh.checks_state("acme/shop", sha) == "failure"
    status("success", "ci/test")
    assert gh.checks_state("acme/shop", sha) == "success"


def test_pull_facts_is_one_graphql_request_whatever_the_policy_asks(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/facts", {"f.txt": "f\n"}, user="bob")
    number = world.open_pull("acme/shop", "feature/facts")
    world.review("acme/shop", number, "carol", "APPROVE")
    answer = world.rest("bob").post(
        f"/repos/acme/shop/statuses/{sha}", json={"state": "success", "context": "ci/test"}
    )
    assert answer.status_code == 201
    gh.installation_token("acme/shop")
    rest_pull = world.rest("alice").get(f"/repos/acme/shop/pulls/{number}").json()
    for approval, checks in [(False, False), (True, False), (False, True), (True, True)]:
        read = functools.partial(gh.pull_facts, "acme/shop", number, approval=approval)
        facts, calls = counted(world, functools.partial(read, checks=checks))
        assert calls == ["POST /graphql"]
        assert facts.approved is (True if approval else None)
        assert facts.head_checks == ("success" if checks else None)
        # The same pull request the REST API describes.
        assert (facts.pull.head_sha, facts.pull.html_url) == (sha, rest_pull["html_url"])
        assert (facts.pull.author, facts.pull.base_ref) == ("bob", "main")
        # Only what was asked for is in the answer: a bare read stays small.
        answer = world.recorder.graphql[-1].answer["data"]["repository"]["pullRequest"]
        assert ("reviews" in answer, "statusCheckRollup" in answer) == (approval, checks)


def test_pull_facts_head_checks_are_checks_state_of_the_head(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/head", {"h.txt": "h\n"}, user="bob")
    number = world.open_pull("acme/shop", "feature/head")

    def both() -> tuple[object, object]:
        facts = gh.pull_facts("acme/shop", number, checks=True)
        return facts.head_checks, gh.checks_state("acme/shop", sha)

    assert both() == ("none", "none")
    gh.check_run("acme/shop", sha, "AutoStack deploy (prod)", "completed", "failure", "Failed")
    assert both() == ("none", "none")  # our own check run never counts
    for state, expected in [("pending", "pending"), ("error", "failure"), ("success", "success")]:
        body = {"state": state, "context": "ci/build"}
        assert world.rest("bob").post(f"/repos/acme/shop/statuses/{sha}", json=body).is_success
        assert both() == (expected, expected)


def test_long_lists_are_read_page_by_page_with_cursors(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/long", {"l.txt": "l\n"}, user="bob")
    number = world.open_pull("acme/shop", "feature/long")
    people = [f"rev{i}" for i in range(120)]
    for login in people:
        world.call("POST", "/users", {"login": login})
        world.call("PUT", f"/repos/acme/shop/permissions/{login}", {"permission": "write"})
        world.review("acme/shop", number, login, "APPROVE")
    api = world.rest("bob")
    for i in range(130):
        body = {"state": "success", "context": f"ci/job-{i:03}"}
        assert api.post(f"/repos/acme/shop/statuses/{sha}", json=body).is_success
    gh.installation_token("acme/shop")
    facts, calls = counted(
        world, lambda: gh.pull_facts("acme/shop", number, approval=True, checks=True)
    )
    assert calls == ["POST /graphql", "POST /graphql"]  # one more page of each, together
    assert (facts.approved, facts.head_checks) == (True, "success")
    # The 121st reviewer and the 131st status are on the second pages: both must be read.
    world.call("POST", "/users", {"login": "late"})
    world.call("PUT", "/repos/acme/shop/permissions/late", {"permission": "write"})
    world.review("acme/shop", number, "late", "REQUEST_CHANGES")
    body = {"state": "failure", "context": "ci/job-zzz"}
    assert api.post(f"/repos/acme/shop/statuses/{sha}", json=body).is_success
    facts = gh.pull_facts("acme/shop", number, approval=True, checks=True)
    assert (facts.approved, facts.head_checks) == (False, "failure")
    state, calls = counted(world, lambda: gh.checks_state("acme/shop", sha))
    assert (state, calls) == ("failure", ["POST /graphql", "POST /graphql"])
    # Only the list with another page is asked for again.
    facts, calls = counted(world, lambda: gh.pull_facts("acme/shop", number, approval=True))
    assert (facts.approved, facts.head_checks, len(calls)) == (False, None, 2)
    last = world.recorder.exchanges[-1]
    assert last.operation_id == "graphql AutoStackPull" and not last.violations


def test_graphql_not_found_rate_limit_and_server_errors(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    with pytest.raises(NotFound) as missing:
        gh.pull_facts("acme/shop", 9999, approval=True, checks=True)
    assert "NOT_FOUND" in str(missing.value) and "9999" in str(missing.value)
    with pytest.raises(NotFound):
        gh.checks_state("acme/shop", "0" * 40)
    world.fault(kind="error", status=502, first=1, route="/graphql")
    with pytest.raises(TransientError) as server:
        gh.checks_state("acme/shop", "main")
    assert "502" in str(server.value) and server.value.retry_after is None
    assert gh.checks_state("acme/shop", "main") == "none"

    installation = gh._installation("acme/shop")
    key = f"graphql:installation:{installation}"
    world.state.rate.set_remaining(key, 0, world.state.clock())
    try:
        with pytest.raises(TransientError) as limited:
            gh.checks_state("acme/shop", "main")
    finally:
        reset = world.state.rate.peek(key, world.state.clock()).reset
        world.state.rate.reset()
    assert "RATE_LIMITED" in str(limited.value)
    assert limited.value.retry_after == pytest.approx(reset - world.clock.now().timestamp())


def test_graphql_answers_are_not_counted_as_the_rest_budget(world: GitHubWorld) -> None:
    seen: list[tuple[str, int]] = []
    gh = world.adapter(on_rate_limit=lambda resource, left: seen.append((resource, left)))
    gh.repo("acme/shop")
    rest = gh.rate_limit_remaining
    assert [resource for resource, _ in seen] == ["core"]
    gh.checks_state("acme/shop", "main")
    # GraphQL's budget is another one, in points: reported under its own name.
    assert [resource for resource, _ in seen] == ["core", "graphql"]
    assert gh.rate_limit_remaining == rest


def test_build_run_is_the_build_workflows_latest_run_for_the_sha(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/build", {"b.txt": "b\n"})
    assert gh.build_run("acme/shop", sha) is None
    world.call("POST", "/repos/acme/shop/ci", {"sha": sha, "conclusion": None})
    queued = gh.build_run("acme/shop", sha)
    assert queued is not None
    assert (queued.head_sha, queued.status, queued.conclusion) == (sha, "queued", None)
    world.call("POST", "/repos/acme/shop/ci", {"sha": sha, "conclusion": "failure"})
    world.call("POST", "/repos/acme/shop/ci", {"sha": sha, "conclusion": "success"})
    latest = gh.build_run("acme/shop", sha)
    assert latest is not None and latest.id != queued.id
    assert (latest.status, latest.conclusion) == ("completed", "success")
    assert latest.html_url.startswith(f"{world.url}/acme/shop/actions/runs/")


# --- acting ------------------------------------------------------------------------


def test_react_with_eyes(world: GitHubWorld, gh: GitHubAdapter) -> None:
    issue = world.call("POST", "/repos/acme/shop/issues", {"title": "t", "user": "bob"})
    comment = world.call(
        "POST", f"/repos/acme/shop/issues/{issue['number']}/comments", {"body": "/status"}
    )
    _, calls = counted(world, lambda: gh.react("acme/shop", comment["id"]))
    assert calls[-1] == "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
    listed = world.rest("alice").get(f"/repos/acme/shop/issues/comments/{comment['id']}/reactions")
    assert [(r["content"], r["user"]["type"]) for r in listed.json()] == [("eyes", "Bot")]


def test_upsert_comment_edits_one_comment_in_place(world: GitHubWorld, gh: GitHubAdapter) -> None:
    issue = world.call("POST", "/repos/acme/shop/issues", {"title": "deploy", "user": "bob"})
    number = issue["number"]
    forged = f"{marker('cmd-1')}\nI am not the bot"
    world.call(
        "POST", f"/repos/acme/shop/issues/{number}/comments", {"body": forged, "user": "bob"}
    )
    gh.installation_token("acme/shop")

    first, calls = counted(world, lambda: gh.upsert_comment("acme/shop", number, "cmd-1", "one"))
    assert calls == [
        "GET /repos/{owner}/{repo}/issues/{number}/comments",
        "POST /repos/{owner}/{repo}/issues/{number}/comments",
    ]
    second, calls = counted(world, lambda: gh.upsert_comment("acme/shop", number, "cmd-1", "two"))
    assert calls == ["PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"]
    assert second.id == first.id
    # After a restart the adapter finds its comment by the marker instead of posting again.
    restarted = world.adapter()
    third = restarted.upsert_comment("acme/shop", number, "cmd-1", "three")
    assert third.id == first.id
    restarted.upsert_comment("acme/shop", number, "cmd-2", "other command")

    comments = world.rest("alice").get(f"/repos/acme/shop/issues/{number}/comments").json()
    bodies = [(c["user"]["type"], c["body"]) for c in comments]
    assert bodies == [
        ("User", forged),
        ("Bot", f"{marker('cmd-1')}\n\nthree"),
        ("Bot", f"{marker('cmd-2')}\n\nother command"),
    ]
    assert first.html_url.endswith(f"#issuecomment-{first.id}")


def test_open_or_update_pr_keeps_one_open_pr_per_branch(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    world.push("acme/gitops", "autostack/shop-prod", {"a": "2\n"})
    gh.installation_token("acme/gitops")

    def open_pr(title: str) -> Any:
        return gh.open_or_update_pr("acme/gitops", "autostack/shop-prod", "main", title, "body")

    first, calls = counted(world, lambda: open_pr("Deploy shop to prod"))
    assert first.created is True
    assert calls == ["POST /repos/{owner}/{repo}/pulls"]  # opening is one call
    same, calls = counted(world, lambda: open_pr("Deploy shop to prod"))
    assert (same.number, same.created, calls) == (
        first.number,
        False,
        ["POST /repos/{owner}/{repo}/pulls", "GET /repos/{owner}/{repo}/pulls"],
    )
    retitled, calls = counted(world, lambda: open_pr("Deploy shop abc1234 to prod"))
    assert retitled.number == first.number
    assert calls == [
        "POST /repos/{owner}/{repo}/pulls",
        "GET /repos/{owner}/{repo}/pulls",
        "PATCH /repos/{owner}/{repo}/pulls/{number}",
    ]
    shown = world.rest("alice").get(f"/repos/acme/gitops/pulls/{first.number}").json()
    assert shown["title"] == "Deploy shop abc1234 to prod"

    merge_sha = gh.merge_pr("acme/gitops", first.number, "squash", sha=first.head_sha)
    merged = gh.pull("acme/gitops", first.number)
    assert (merged.merged, merged.state) == (True, "closed")
    assert gh.read_file("acme/gitops", "a", merge_sha) == b"2\n"
    # Merged, so the next change to the branch opens a new pull request.
    world.push("acme/gitops", "autostack/shop-prod", {"a": "3\n"})
    again = open_pr("Deploy shop to prod")
    assert again.created is True and again.number != first.number


def test_deployment_and_its_statuses(world: GitHubWorld, gh: GitHubAdapter) -> None:
    sha = world.push("acme/shop", "main", {"d.txt": "d\n"})
    payload = {"app": "shop", "image": f"ghcr.io/acme/shop:{sha}"}
    deployment = gh.create_deployment("acme/shop", sha, "prod", payload, "Deploy " + "x" * 200)
    gh.deployment_status("acme/shop", deployment, "queued", description="queued")
    gh.deployment_status(
        "acme/shop",
        deployment,
        "success",
        environment_url="https://shop.example.com",
        log_url="https://argocd.example.com/applications/shop-prod",
        description="Synced and healthy",
    )
    api = world.rest("alice")
    shown = api.get(f"/repos/acme/shop/deployments/{deployment}").json()
    assert (shown["sha"], shown["environment"], shown["payload"]) == (sha, "prod", payload)
    assert len(shown["description"]) == 140
    statuses = api.get(f"/repos/acme/shop/deployments/{deployment}/statuses").json()
    assert [s["state"] for s in statuses] == ["success", "queued"]
    assert statuses[0]["environment_url"] == "https://shop.example.com"
    assert statuses[0]["log_url"] == "https://argocd.example.com/applications/shop-prod"


def test_check_run_created_then_completed_in_place(world: GitHubWorld, gh: GitHubAdapter) -> None:
    sha = world.push("acme/shop", "feature/check", {"k.txt": "k\n"})
    name = "AutoStack deploy (staging)"
    run_id = gh.check_run("acme/shop", sha, name, "in_progress", None, "Syncing", "Waiting")
    done, calls = counted(
        world,
        lambda: gh.check_run(
            "acme/shop",
            sha,
            name,
            "completed",
            "success",
            "Deployed",
            "Synced and healthy",
            "https://argocd.example.com/applications/shop-staging",
            existing_id=run_id,
        ),
    )
    assert done == run_id
    assert calls == ["PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"]
    runs = world.rest("alice").get(f"/repos/acme/shop/commits/{sha}/check-runs").json()
    assert [(r["name"], r["status"], r["conclusion"]) for r in runs["check_runs"]] == [
        (name, "completed", "success")
    ]
    assert runs["check_runs"][0]["output"]["title"] == "Deployed"


def test_check_run_falls_back_to_a_commit_status_when_checks_are_forbidden(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    sha = world.push("acme/shop", "feature/nochecks", {"n.txt": "n\n"})
    world.fault(kind="error", status=403, method="POST", route="/repos/{owner}/{repo}/check-runs")
    name = "AutoStack deploy (prod)"
    gh.check_run("acme/shop", sha, name, "in_progress", None, "Syncing")
    _, calls = counted(
        world, lambda: gh.check_run("acme/shop", sha, name, "completed", "failure", "Degraded")
    )
    assert calls == ["POST /repos/{owner}/{repo}/statuses/{sha}"]  # remembered: no retry
    combined = world.rest("alice").get(f"/repos/acme/shop/commits/{sha}/status").json()
    assert [(s["context"], s["state"]) for s in combined["statuses"]] == [(name, "failure")]
    assert gh.checks_state("acme/shop", sha) == "none"


def test_drift_issue_is_opened_updated_and_closed(world: GitHubWorld, gh: GitHubAdapter) -> None:
    gh.installation_token("acme/shop")
    opened, calls = counted(
        world, lambda: gh.open_or_update_issue("acme/shop", "drift:shop-prod", "Drift", "1")
    )
    assert opened.created is True
    assert calls == ["GET /repos/{owner}/{repo}/issues", "POST /repos/{owner}/{repo}/issues"]
    updated, calls = counted(
        world, lambda: gh.open_or_update_issue("acme/shop", "drift:shop-prod", "Drift!", "2")
    )
    assert (updated.number, updated.created) == (opened.number, False)
    assert calls == ["PATCH /repos/{owner}/{repo}/issues/{number}"]
    # Another process finds the same issue by its marker.
    other = world.adapter()
    assert other.open_or_update_issue("acme/shop", "drift:shop-prod", "Drift", "3").number == (
        opened.number
    )
    assert other.close_issue("acme/shop", "drift:shop-prod") is True
    assert gh.close_issue("acme/shop", "drift:shop-dev") is False
    shown = world.rest("alice").get(f"/repos/acme/shop/issues/{opened.number}").json()
    assert (shown["state"], shown["title"]) == ("closed", "Drift")
    assert shown["body"].startswith("<!-- autostack:issue key=drift:shop-prod -->")


def test_convert_manifest_returns_the_app_credentials(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    manifest = {"name": "AutoStack", "url": "http://localhost:8000", "redirect_url": "http://x/cb"}
    code = world.call("POST", "/app-manifests", {"manifest": manifest})["code"]
    credentials = gh.convert_manifest(code)
    assert credentials.app_id == world.state.app_id
    assert credentials.slug == world.state.app_slug
    assert credentials.pem == world.state.private_key_pem
    assert credentials.webhook_secret == world.state.webhook_secret
    assert "BEGIN" not in repr(credentials) and world.state.webhook_secret not in repr(credentials)
    with pytest.raises(NotFound):
        gh.convert_manifest(code)  # one-time


# --- faults ------------------------------------------------------------------------


def test_server_errors_on_a_third_of_calls_surface_as_transient(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    gh.installation_token("acme/shop")
    world.fault(kind="error", status=500, every=3, route="/repos/*")
    operations: list[Callable[[], object]] = [
        lambda: gh.read_file("acme/shop", "README.md", "main"),
        lambda: gh.permission("acme/shop", "bob"),
        lambda: gh.checks_state("acme/shop", "main"),
        lambda: gh.build_run("acme/shop", "0" * 40),
    ] * 3
    transient = 0
    for operation in operations:
        for _attempt in range(5):  # what the queue does, without its backoff
            try:
                operation()
                break
            except TransientError as exc:
                assert exc.retry_after is None
                assert "500" in str(exc)
                transient += 1
        else:
            pytest.fail("an operation never succeeded")
    fired = sum(rule["fired"] for rule in world.call("GET", "/faults"))
    assert transient == fired > 0


def test_secondary_rate_limit_is_transient_with_retry_after(
    world: GitHubWorld, gh: GitHubAdapter
) -> None:
    gh.installation_token("acme/shop")
    world.fault(kind="secondary_rate_limit", retry_after=42, first=1)
    with pytest.raises(TransientError) as caught:
        gh.permission("acme/shop", "bob")
    assert caught.value.retry_after == 42
    assert "secondary rate limit" in str(caught.value)
    assert gh.permission("acme/shop", "bob") == "write"


def test_primary_rate_limit_waits_for_the_reset_and_is_recorded(world: GitHubWorld) -> None:
    seen: list[int] = []
    with validating_pygithub(GitHubExchangeRecorder(base_url=world.url)) as checked:
        gh = world.adapter(on_rate_limit=lambda resource, left: seen.append(left))
        gh.repo("acme/gitops")
        assert gh.rate_limit_remaining is not None and gh.rate_limit_remaining > 0
        installation = gh._installation("acme/gitops")
        world.call("PUT", "/rate-limit", {"installation_id": installation, "remaining": 0})
        world.clock.advance(seconds=1)
        with pytest.raises(TransientError) as caught:
            gh.permission("acme/gitops", "bob")
    checked.assert_conforms()
    reset = world.state.rate.peek(f"installation:{installation}", world.state.clock()).reset
    assert caught.value.retry_after == pytest.approx(reset - world.clock.now().timestamp())
    assert 0 < (caught.value.retry_after or 0) <= 3600
    assert seen[0] > 0 and seen[-1] == 0 and gh.rate_limit_remaining == 0
    world.state.rate.reset()


def test_connection_errors_are_transient(world: GitHubWorld) -> None:
    gh = GitHubAdapter(
        "http://127.0.0.1:9", world.state.app_id, world.state.private_key_pem, world.clock
    )
    with pytest.raises(TransientError) as caught:
        gh.repo("acme/shop")
    assert "could not reach GitHub" in str(caught.value)


def test_no_secret_reaches_the_logs(
    world: GitHubWorld, gh: GitHubAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub logs bodies at DEBUG
    token = gh.installation_token("acme/shop")
    gh.repo("acme/shop")
    gh.upsert_comment("acme/shop", 1, "log-check", "hello")
    code = world.call("POST", "/app-manifests", {"manifest": {"redirect_url": "http://x/cb"}})
    gh.convert_manifest(code["code"])
    gh.checks_state("acme/shop", "main")
    with pytest.raises(NotFound) as missing:
        gh.pull_facts("acme/shop", 9999, approval=True)
    assert token not in str(missing.value)
    world.fault(kind="error", status=500, first=1, route="/repos/*")
    with pytest.raises(TransientError):
        gh.repo("acme/gitops")
    text = caplog.text
    assert "github.Requester" in {r.name for r in caplog.records}  # PyGithub did log
    assert token not in text
    assert world.state.private_key_pem.splitlines()[1] not in text
    assert world.state.webhook_secret not in text
    assert not re.search(r"ghs_[A-Za-z0-9]{20,}|eyJ[A-Za-z0-9_-]{10,}\.", text)
