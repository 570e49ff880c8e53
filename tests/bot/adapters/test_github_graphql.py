"""The GraphQL queries the adapter sends: valid against GitHub's published schema, read into
the same answers as the REST readings, paginated only where a list runs over a page, and
GitHub's GraphQL errors mapped onto the bot's error taxonomy. Pure: no server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType

from bot.adapters.github.errors import Forbidden, graphql_error
from bot.adapters.github.queries import (
    COMMIT_CHECKS,
    PULL,
    QUERIES,
    CommitPages,
    PullPages,
    graphql_url,
    pull_info_of,
    reviews_as_rest,
    rollup_as_rest,
    verdict_of,
)
from bot.adapters.github.shapes import checks_verdict, is_approved
from bot.core.errors import PermanentError, TransientError
from bot.ports import NotFound
from tests.support import github_graphql

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests/fixtures/reference/github/graphql/schema.graphql"
SANDBOX_COPY = ROOT / "sandbox/github/schema.graphql"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
APP_ID = 4242


# --- the queries and the schema ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_query_is_valid_against_githubs_schema(name: str) -> None:
    assert github_graphql.query_errors(QUERIES[name]) == []
    assert github_graphql.operation_name(QUERIES[name]) == name


def test_the_schema_check_refuses_what_github_would() -> None:
    assert github_graphql.query_errors(PULL.replace("headRefOid", "headSha"))
    assert github_graphql.query_errors(PULL.replace("fullDatabaseId", "databaseId"))  # deprecated
    assert github_graphql.query_errors(COMMIT_CHECKS.replace("$expression: String!", ""))
    assert github_graphql.query_errors("query { repository(owner: 1) { name } }")


def test_the_sandbox_serves_the_same_schema_file() -> None:
    assert SANDBOX_COPY.read_bytes() == FIXTURE.read_bytes()
    assert "@octokit/graphql-schema@" in FIXTURE.read_text().splitlines()[1]


def test_the_schema_is_trimmed_to_what_the_queries_read() -> None:
    """Every field is selected by a query, or belongs to an interface that is."""
    schema = github_graphql.schema()
    selected = github_graphql.selected_fields(schema, QUERIES.values())
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(
            type_, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        reachable = set(selected.get(type_.name, set()))
        for interface in type_.interfaces:
            reachable |= selected.get(interface.name, set())
        assert set(type_.fields) == reachable, type_.name


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/graphql"),
        ("https://proxy.example/github", "https://proxy.example/github/graphql"),
    ],
)
def test_graphql_url_is_derived_from_the_rest_url(api_url: str, expected: str) -> None:
    assert graphql_url(api_url) == expected


# --- reading the pull request --------------------------------------------------------------


def pull_node(**fields: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "number": 12,
        "state": "OPEN",
        "merged": False,
        "url": "https://github.com/acme/shop/pull/12",
        "headRefName": "feature",
        "headRefOid": "a" * 40,
        "baseRefName": "main",
        "isCrossRepository": False,
        "headRepository": {"nameWithOwner": "acme/shop"},
        "author": {"__typename": "User", "login": "bob"},
    }
    return node | fields


def page(nodes: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    return {"nodes": nodes, "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor}}


def answer(node: dict[str, Any] | None) -> dict[str, Any]:
    return {"repository": {"pullRequest": node}}


def review(login: str, state: str, at: str, number: int = 1) -> dict[str, Any]:
    author = {"__typename": "User", "login": login}
    return {"fullDatabaseId": str(number), "state": state, "submittedAt": at, "author": author}


def status(context: str, state: str) -> dict[str, Any]:
    return {"__typename": "StatusContext", "context": context, "state": state}


def run(name: str, status: str, conclusion: str | None, app_id: int | None = 1) -> dict[str, Any]:
    app = {"databaseId": app_id} if app_id is not None else None
    return {
        "__typename": "CheckRun",
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "checkSuite": {"app": app},
    }


def test_a_pull_request_reads_as_the_rest_api_spells_it() -> None:
    pull = pull_info_of(pull_node())
    assert (pull.number, pull.state, pull.merged, pull.is_fork) == (12, "open", False, False)
    assert (pull.head_sha, pull.head_ref, pull.base_ref) == ("a" * 40, "feature", "main")
    assert (pull.head_repo_full_name, pull.author) == ("acme/shop", "bob")
    merged = pull_info_of(pull_node(state="MERGED", merged=True))
    assert (merged.state, merged.merged) == ("closed", True)
    assert pull_info_of(pull_node(state="CLOSED")).state == "closed"
    forked = pull_info_of(
        pull_node(isCrossRepository=True, headRepository={"nameWithOwner": "eve/shop"})
    )
    assert (forked.is_fork, forked.head_repo_full_name) == (True, "eve/shop")
    deleted_fork = pull_info_of(pull_node(isCrossRepository=True, headRepository=None))
    assert (deleted_fork.is_fork, deleted_fork.head_repo_full_name) == (True, None)
    bot = pull_info_of(pull_node(author={"__typename": "Bot", "login": "autostack"}))
    assert bot.author == "autostack[bot]"
    assert pull_info_of(pull_node(author=None)).author == "ghost"


def test_the_first_request_asks_only_for_what_the_policy_wants() -> None:
    for approval, checks in [(False, False), (True, False), (False, True), (True, True)]:
        pages = PullPages("acme/shop", 12, approval=approval, checks=checks)
        assert pages.variables() == {
            "owner": "acme",
            "name": "shop",
            "number": 12,
            "withReviews": approval,
            "reviewsAfter": None,
            "withChecks": checks,
            "checksAfter": None,
        }
    bare = PullPages("acme/shop", 12, approval=False, checks=False)
    assert bare.take(answer(pull_node())) is False
    facts = bare.facts(APP_ID)
    assert (facts.approved, facts.head_checks, facts.pull.number) == (None, None, 12)


def test_more_pages_are_asked_only_for_the_lists_that_have_them() -> None:
    pages = PullPages("acme/shop", 12, approval=True, checks=True)
    first = pull_node(
        reviews=page([review("carol", "APPROVED", "2026-03-01T10:00:00Z")], cursor="R1"),
        statusCheckRollup={"contexts": page([status("ci/a", "SUCCESS")])},
    )
    assert pages.take(answer(first)) is True
    variables = pages.variables()
    assert (variables["withReviews"], variables["reviewsAfter"]) == (True, "R1")
    assert (variables["withChecks"], variables["checksAfter"]) == (False, None)
    later = review("dave", "CHANGES_REQUESTED", "2026-03-01T11:00:00Z", 2)
    assert pages.take(answer(pull_node(reviews=page([later])))) is False
    facts = pages.facts(APP_ID)
    assert (facts.approved, facts.head_checks) == (False, "success")  # the second page counts


def test_a_pull_request_that_is_not_there_is_not_found() -> None:
    with pytest.raises(NotFound):
        PullPages("acme/shop", 9, approval=True, checks=True).take(answer(None))


def test_no_rollup_means_no_checks_have_reported() -> None:
    pages = PullPages("acme/shop", 12, approval=False, checks=True)
    assert pages.take(answer(pull_node(statusCheckRollup=None))) is False
    assert pages.facts(APP_ID).head_checks == "none"


REVIEWS = [
    [],
    [review("carol", "APPROVED", "2026-03-01T10:00:00Z")],
    [review("carol", "COMMENTED", "2026-03-01T10:00:00Z")],
    [
        review("carol", "APPROVED", "2026-03-01T10:00:00Z", 1),
        review("alice", "CHANGES_REQUESTED", "2026-03-01T11:00:00Z", 2),
    ],
    [
        review("alice", "CHANGES_REQUESTED", "2026-03-01T10:00:00Z", 1),
        review("alice", "APPROVED", "2026-03-01T11:00:00Z", 2),
        review("alice", "COMMENTED", "2026-03-01T12:00:00Z", 3),
    ],
    [
        review("carol", "APPROVED", "2026-03-01T10:00:00Z", 1),
        review("carol", "DISMISSED", "2026-03-01T11:00:00Z", 2),
    ],
    # Same second: the later id decides, as on REST.
    [
        review("carol", "APPROVED", "2026-03-01T10:00:00Z", 2),
        review("carol", "CHANGES_REQUESTED", "2026-03-01T10:00:00Z", 1),
    ],
]
EXPECTED_APPROVAL = [False, True, False, False, True, False, True]


@pytest.mark.parametrize(("nodes", "expected"), list(zip(REVIEWS, EXPECTED_APPROVAL, strict=True)))
def test_reviews_are_judged_by_the_rest_rule(nodes: list[dict[str, Any]], expected: bool) -> None:
    as_rest = reviews_as_rest(nodes)
    assert is_approved(as_rest) is expected
    pages = PullPages("acme/shop", 12, approval=True, checks=False)
    pages.take(answer(pull_node(reviews=page(nodes))))
    assert pages.facts(APP_ID).approved is expected


@pytest.mark.parametrize(
    ("contexts", "expected"),
    [
        ([], "none"),
        ([status("ci/a", "SUCCESS")], "success"),
        ([status("ci/a", "PENDING")], "pending"),
        ([status("ci/a", "EXPECTED")], "pending"),  # a required status not reported yet
        ([status("ci/a", "ERROR")], "failure"),
        ([status("autostack/deploy (prod)", "FAILURE")], "none"),  # our own status
        ([run("test", "COMPLETED", "SUCCESS")], "success"),
        ([run("test", "IN_PROGRESS", None)], "pending"),
        ([run("test", "COMPLETED", "STARTUP_FAILURE")], "failure"),
        ([run("test", "COMPLETED", "SKIPPED"), status("ci/a", "SUCCESS")], "success"),
        ([run("test", "COMPLETED", "NEUTRAL"), run("lint", "QUEUED", None)], "pending"),
        ([run("AutoStack deploy (prod)", "COMPLETED", "FAILURE", APP_ID)], "none"),  # ours
        ([run("external", "COMPLETED", "FAILURE", None)], "failure"),  # no app: not ours
    ],
)
def test_checks_are_judged_by_the_rest_rule(contexts: list[dict[str, Any]], expected: str) -> None:
    combined, runs = rollup_as_rest(contexts)
    assert checks_verdict(combined, runs, APP_ID, own_prefix="autostack") == expected
    assert verdict_of(contexts, APP_ID) == expected


def test_the_checks_of_a_commit() -> None:
    def commit(rollup: dict[str, Any] | None, kind: str = "Commit") -> dict[str, Any]:
        found = {"__typename": kind, "oid": "b" * 40, "statusCheckRollup": rollup}
        return {"repository": {"object": found}}

    pages = CommitPages("acme/shop", "b" * 40)
    assert pages.variables() == {
        "owner": "acme",
        "name": "shop",
        "expression": "b" * 40,
        "after": None,
    }
    assert pages.take(commit({"contexts": page([status("ci/a", "PENDING")], "C1")})) is True
    assert pages.variables()["after"] == "C1"
    assert pages.take(commit({"contexts": page([status("ci/b", "FAILURE")])})) is False
    assert pages.verdict(APP_ID) == "failure"
    nothing = CommitPages("acme/shop", "main")
    assert nothing.take(commit(None)) is False and nothing.verdict(APP_ID) == "none"
    with pytest.raises(NotFound):
        CommitPages("acme/shop", "c" * 40).take({"repository": {"object": None}})
    with pytest.raises(NotFound):
        CommitPages("acme/shop", "v1.0").take(commit(None, kind="Tag"))


# --- errors --------------------------------------------------------------------------------

EPOCH = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("errors", "headers", "kind", "retry_after"),
    [
        (
            [{"type": "NOT_FOUND", "path": ["repository"], "message": "Could not resolve."}],
            {},
            NotFound,
            None,
        ),
        (
            [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation."}],
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(EPOCH + 90)},
            TransientError,
            90.0,
        ),
        (
            [{"type": "RATE_LIMIT", "code": "graphql_rate_limit", "message": "exceeded"}],
            {"Retry-After": "12"},
            TransientError,
            12.0,
        ),
        ([{"type": "RATE_LIMITED", "message": "exceeded"}], {}, TransientError, 60.0),
        (
            [{"message": "Something went wrong while executing your query. Please retry."}],
            {},
            TransientError,
            None,
        ),
        ([{"type": "FORBIDDEN", "message": "Resource not accessible"}], {}, Forbidden, None),
        (
            [{"message": "Field 'bogus' doesn't exist on type 'Repository'"}],
            {},
            PermanentError,
            None,
        ),
        (
            [{"type": "NOT_FOUND", "message": "a"}, {"type": "INTERNAL", "message": "b"}],
            {},
            PermanentError,
            None,
        ),
        (["not an object"], {}, PermanentError, None),
    ],
)
def test_graphql_errors_map_onto_the_taxonomy(
    errors: list[Any], headers: dict[str, str], kind: type, retry_after: float | None
) -> None:
    error = graphql_error(errors, headers, NOW, "read acme/shop#12")
    assert type(error) is kind
    assert "read acme/shop#12" in str(error)
    first = errors[0]
    if isinstance(first, dict):
        assert first["message"][:30] in str(error)
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after


def test_the_answer_check_finds_what_github_would_not_send() -> None:
    variables = PullPages("acme/shop", 12, approval=False, checks=False).variables()

    def problems(node: dict[str, Any]) -> list[str]:
        return github_graphql.answer_errors(PULL, variables, answer_doc(node))

    def answer_doc(node: dict[str, Any]) -> dict[str, Any]:
        return {"data": {"repository": {"pullRequest": node}}}

    assert problems(pull_node()) == []
    assert problems(pull_node(state="open"))  # not a PullRequestState
    assert problems(pull_node(headRefOid=None))  # non-null in the schema
    assert problems(pull_node(author={"login": "bob"}))  # an Actor needs its type
    assert problems(pull_node(title="extra"))  # not asked for
    assert problems(pull_node(reviews=page([])))  # left out by @include(if: false)
    missing = pull_node()
    del missing["merged"]
    assert problems(missing)
    assert github_graphql.answer_errors(PULL, variables, {"data": None}) != []
    assert github_graphql.answer_errors(PULL, variables, {"errors": []}) != []
