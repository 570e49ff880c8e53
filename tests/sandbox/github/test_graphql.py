"""The sandbox GitHub's GraphQL endpoint: graphql-core executing GitHub's own (trimmed)
schema over the sandbox's state. Every answer is checked against that schema, tells what
the REST routes tell, and errors, authentication, the separate budget, faults and the
request log behave as on GitHub."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.adapters.github.queries import COMMIT_CHECKS, PULL
from tests.sandbox.github.conftest import World
from tests.support.github_graphql import answer_errors, query_errors

REPO = "/repos/alice/app"


def post(world: World, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    token = kw.pop("token", world.token)
    headers = {"Authorization": f"token {token}"} if token else {}
    body = {"query": query, "variables": variables or {}}
    return httpx.post(f"{world.gh.url}/graphql", json=body, headers=headers, timeout=30, **kw)


def query(world: World, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ask, check the answer is GitHub's shape for the query, return it."""
    response = post(world, text, variables)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert answer_errors(text, variables, doc) == []
    return dict(doc)


def pull_variables(number: int, reviews: bool = True, checks: bool = True) -> dict[str, Any]:
    return {
        "owner": "alice",
        "name": "app",
        "number": number,
        "withReviews": reviews,
        "reviewsAfter": None,
        "withChecks": checks,
        "checksAfter": None,
    }


@pytest.fixture
def pull(world: World) -> tuple[int, str]:
    """bob's pull request on alice/app, approved by carol, with a status and a check run."""
    gh = world.gh
    for login, permission in (("bob", "write"), ("carol", "maintain")):
        gh.user(login)
        gh.call("PUT", f"{REPO}/permissions/{login}", json={"permission": permission})
    body = {"branch": "feature", "files": {"f.txt": "f\n"}, "message": "Feature", "user": "bob"}
    sha = gh.call("POST", f"{REPO}/push", json=body)["sha"]
    opened = {"head": "feature", "title": "F", "user": "bob"}
    number = gh.call("POST", f"{REPO}/pulls", json=opened)["number"]
    gh.call("POST", f"{REPO}/pulls/{number}/reviews", json={"user": "carol", "event": "APPROVE"})
    api = gh.api(world.token)
    created = api.post(f"{REPO}/statuses/{sha}", json={"state": "pending", "context": "ci/test"})
    assert created.status_code == 201
    run = {"name": "lint", "head_sha": sha, "status": "completed", "conclusion": "success"}
    assert api.post(f"{REPO}/check-runs", json=run).status_code == 201
    return int(number), str(sha)


def test_the_bots_pull_query_answers_what_rest_does(world: World, pull: tuple[int, str]) -> None:
    number, sha = pull
    doc = query(world, PULL, pull_variables(number))
    assert "errors" not in doc
    node = doc["data"]["repository"]["pullRequest"]
    api = world.gh.api(world.token)
    rest = api.get(f"{REPO}/pulls/{number}").json()
    assert (node["number"], node["state"], node["merged"]) == (number, "OPEN", False)
    assert (node["url"], node["headRefOid"], node["headRefName"]) == (
        rest["html_url"],
        rest["head"]["sha"],
        rest["head"]["ref"],
    )
    assert (node["baseRefName"], node["author"]["login"]) == (rest["base"]["ref"], "bob")
    assert (node["isCrossRepository"], node["headRepository"]) == (
        False,
        {"nameWithOwner": "alice/app"},
    )
    reviews = api.get(f"{REPO}/pulls/{number}/reviews").json()
    assert [(r["author"]["login"], r["state"]) for r in node["reviews"]["nodes"]] == [
        (r["user"]["login"], r["state"]) for r in reviews
    ]
    contexts = node["statusCheckRollup"]["contexts"]["nodes"]
    runs = api.get(f"{REPO}/commits/{sha}/check-runs").json()["check_runs"]
    statuses = api.get(f"{REPO}/commits/{sha}/status").json()["statuses"]
    assert [(c["name"], c["status"], c["conclusion"]) for c in contexts[:1]] == [
        (r["name"], r["status"].upper(), r["conclusion"].upper()) for r in runs
    ]
    assert [(c["context"], c["state"]) for c in contexts[1:]] == [
        (s["context"], s["state"].upper()) for s in statuses
    ]
    assert contexts[0]["checkSuite"]["app"]["databaseId"] == world.gh.state.app_id


def test_what_is_not_asked_for_is_not_answered(world: World, pull: tuple[int, str]) -> None:
    number, _ = pull
    node = query(world, PULL, pull_variables(number, False, False))["data"]["repository"]
    assert "reviews" not in node["pullRequest"]
    assert "statusCheckRollup" not in node["pullRequest"]


def test_the_commit_query_and_a_merged_pull(world: World, pull: tuple[int, str]) -> None:
    number, sha = pull
    variables = {"owner": "alice", "name": "app", "expression": sha, "after": None}
    found = query(world, COMMIT_CHECKS, variables)["data"]["repository"]["object"]
    assert (found["__typename"], found["oid"]) == ("Commit", sha)
    assert len(found["statusCheckRollup"]["contexts"]["nodes"]) == 2
    main = query(world, COMMIT_CHECKS, variables | {"expression": "main"})
    assert main["data"]["repository"]["object"]["statusCheckRollup"] is None  # nothing reported
    missing = query(world, COMMIT_CHECKS, variables | {"expression": "0" * 40})
    assert missing == {"data": {"repository": {"object": None}}}  # null, and no error
    world.gh.call("POST", f"{REPO}/pulls/{number}/merge", json={"user": "alice"})
    merged = query(world, PULL, pull_variables(number, False, False))
    node = merged["data"]["repository"]["pullRequest"]
    assert (node["state"], node["merged"]) == ("MERGED", True)


def test_a_fork_and_a_bot_author(world: World) -> None:
    gh = world.gh
    gh.user("eve")
    gh.call("POST", f"{REPO}/forks", json={"owner": "eve"})
    body = {"branch": "evil", "files": {"x.txt": "x\n"}, "message": "x", "user": "eve"}
    gh.call("POST", "/repos/eve/app/push", json=body)
    opened = {"head": "evil", "head_owner": "eve", "title": "x", "user": "eve"}
    number = gh.call("POST", f"{REPO}/pulls", json=opened)["number"]
    node = query(world, PULL, pull_variables(number, False, False))["data"]["repository"]
    assert node["pullRequest"]["isCrossRepository"] is True
    assert node["pullRequest"]["headRepository"] == {"nameWithOwner": "eve/app"}
    api = gh.api(world.token)
    body = {"branch": "by-bot", "files": {"b.txt": "b\n"}, "message": "b", "user": "alice"}
    gh.call("POST", f"{REPO}/push", json=body)
    made = api.post(f"{REPO}/pulls", json={"head": "by-bot", "base": "main", "title": "b"})
    assert made.json()["user"]["login"] == "autostack[bot]"
    by_bot = query(world, PULL, pull_variables(made.json()["number"], False, False))
    author = by_bot["data"]["repository"]["pullRequest"]["author"]
    assert author == {"__typename": "Bot", "login": "autostack"}  # GraphQL drops "[bot]"


def test_not_found_is_answered_200_with_a_typed_error(world: World) -> None:
    doc = query(world, PULL, pull_variables(404))
    assert doc["data"] == {"repository": {"pullRequest": None}}
    [error] = doc["errors"]
    assert (error["type"], error["path"]) == ("NOT_FOUND", ["repository", "pullRequest"])
    assert error["message"] == "Could not resolve to a PullRequest with the number of 404."
    world.gh.user("zed")
    world.gh.repo("zed", "hidden")  # the App is not installed there
    hidden = query(world, PULL, pull_variables(1) | {"owner": "zed", "name": "hidden"})
    assert hidden["data"] == {"repository": None}
    assert [e["type"] for e in hidden["errors"]] == ["NOT_FOUND"]


def test_an_invalid_query_is_answered_200_with_errors_and_no_data(world: World) -> None:
    for text in (
        'query { repository(owner: "alice", name: "app") { bogus } }',
        'query { repository(owner: "alice") { nameWithOwner } }',
        "query { repository(owner: ",
        "mutation { addStar }",
    ):
        response = post(world, text)
        assert response.status_code == 200
        doc = response.json()
        assert "data" not in doc and doc["errors"], text
        assert all(isinstance(e["message"], str) and e["message"] for e in doc["errors"])
        assert query_errors(text)  # what the schema refuses, the sandbox refuses
    bare = httpx.post(
        f"{world.gh.url}/graphql",
        json={"variables": {}},
        headers={"Authorization": f"token {world.token}"},
    )
    assert bare.status_code == 200
    assert bare.json() == {
        "errors": [{"message": "A query attribute must be specified and must be a string."}]
    }
    broken = httpx.post(
        f"{world.gh.url}/graphql",
        content=b"{not json",
        headers={"Authorization": f"token {world.token}"},
    )
    assert broken.status_code == 400 and broken.json()["message"] == "Problems parsing JSON"


def test_connections_page_with_cursors_as_github_does(world: World, pull: tuple[int, str]) -> None:
    _, sha = pull
    api = world.gh.api(world.token)
    for i in range(4):
        body = {"state": "success", "context": f"ci/{i}"}
        assert api.post(f"{REPO}/statuses/{sha}", json=body).status_code == 201
    text = """query($after: String, $oid: GitObjectID!) {
      repository(owner: "alice", name: "app") {
        object(oid: $oid) { __typename ... on Commit { statusCheckRollup {
          contexts(first: 2, after: $after) {
            pageInfo { hasNextPage endCursor }
            nodes { __typename ... on StatusContext { context } ... on CheckRun { name } }
          } } } } } }"""
    seen, after = [], None
    for _ in range(5):
        doc = query(world, text, {"after": after, "oid": sha})
        page = doc["data"]["repository"]["object"]["statusCheckRollup"]["contexts"]
        seen += [n.get("context") or n.get("name") for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["lint", "ci/3", "ci/2", "ci/1", "ci/0", "ci/test"]
    too_many = query(world, text.replace("first: 2", "first: 101"), {"oid": sha})
    assert [e["type"] for e in too_many["errors"]] == ["EXCESSIVE_PAGINATION"]
    unbounded = query(world, text.replace("first: 2, ", ""), {"oid": sha})
    assert [e["type"] for e in unbounded["errors"]] == ["MISSING_PAGINATION_BOUNDARIES"]
    bad_cursor = query(world, text, {"after": "bm90IGEgY3Vyc29y", "oid": sha})
    assert [e["type"] for e in bad_cursor["errors"]] == ["INVALID_CURSOR_ARGUMENTS"]


def test_authentication_is_the_rest_apis(world: World) -> None:
    anonymous = post(
        world, 'query { repository(owner: "alice", name: "app") { nameWithOwner } }', token=None
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "This endpoint requires you to be authenticated."
    wrong = post(world, "query { __typename }", token="ghs_" + "x" * 36)
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Bad credentials")
    person = world.gh.api(world.alice)  # a person's token sees what the person sees
    assert person.get(f"{REPO}").status_code == 200
    mine = post(
        world,
        'query { repository(owner: "alice", name: "app") { nameWithOwner } }',
        token=world.alice,
    )
    assert mine.json() == {"data": {"repository": {"nameWithOwner": "alice/app"}}}


def test_the_graphql_budget_is_its_own_and_spent_means_rate_limited(world: World) -> None:
    text = 'query { repository(owner: "alice", name: "app") { nameWithOwner } }'
    first = post(world, text)
    assert first.headers["x-ratelimit-resource"] == "graphql"
    assert first.headers["x-ratelimit-used"] == "1"
    state = world.gh.state
    key = f"graphql:installation:{world.installation}"
    state.rate.set_remaining(key, 0, state.clock())
    limited = post(world, text)
    assert limited.status_code == 200
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json() == {
        "errors": [
            {
                "type": "RATE_LIMITED",
                "message": f"API rate limit exceeded for installation ID {world.installation}.",
            }
        ]
    }
    # The REST budget is untouched.
    rest = world.gh.api(world.token).get(f"{REPO}")
    assert rest.status_code == 200 and rest.headers["x-ratelimit-resource"] == "core"


def test_faults_and_the_request_log_apply_as_to_rest(world: World) -> None:
    text = 'query { repository(owner: "alice", name: "app") { nameWithOwner } }'
    world.gh.call("DELETE", "/requests")
    world.gh.call(
        "POST", "/faults", json={"kind": "error", "status": 502, "route": "/graphql", "first": 1}
    )
    assert post(world, text).status_code == 502
    assert post(world, text).status_code == 200
    entries = [e for e in world.gh.call("GET", "/requests") if e["route"] == "/graphql"]
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 502), ("POST", 200)]
    assert entries[1]["auth"] == "installation"
    assert entries[1]["installation_id"] == world.installation
