"""The REST validator accepts correct GitHub exchanges and names what is wrong in bad ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.github_openapi import load, operation_for, validate_request, validate_response

API = "https://api.github.com"
GHES = "http://127.0.0.1:5123/api/v3"
SHA = "7638417db6d59f3c431d3e1f261cc637155684cd"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def user(login: str = "octocat") -> dict[str, Any]:
    base = f"{API}/users/{login}"
    return {
        "login": login,
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
        "gravatar_id": "",
        "url": base,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": "User",
        "site_admin": False,
    }


def git_ref(ref: str = "refs/heads/autostack/deploy-web-prod") -> dict[str, Any]:
    url = f"{API}/repos/acme/gitops/git/{ref}"
    return {
        "ref": ref,
        "node_id": "MDM6UmVmcmVmcy9oZWFkcy9mZWF0dXJlQQ==",
        "url": url,
        "object": {
            "type": "commit",
            "sha": SHA,
            "url": f"{API}/repos/acme/gitops/git/commits/{SHA}",
        },
    }


def commit_status(state: str = "success") -> dict[str, Any]:
    return {
        "url": f"{API}/repos/acme/web/statuses/{SHA}",
        "avatar_url": None,
        "id": 1,
        "node_id": "MDY6U3RhdHVzMQ==",
        "state": state,
        "description": "Deployed to prod",
        "target_url": "https://argocd.example.com/applications/web-prod",
        "context": "autostack/prod",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "creator": user("autostack[bot]"),
    }


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


# --- routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "operation_id"),
    [
        (
            "GET",
            f"{API}/repos/acme/gitops/contents/apps/web/overlays/prod/kustomization.yaml",
            "repos/get-content",
        ),
        ("GET", f"{GHES}/repos/acme/gitops/contents/autostack.yaml?ref=main", "repos/get-content"),
        ("GET", f"{API}/repos/acme/gitops/git/ref/heads/autostack/deploy-web", "git/get-ref"),
        ("PATCH", f"{API}/repos/acme/gitops/git/refs/heads/feature/a%2Fb", "git/update-ref"),
        ("GET", f"{API}/repos/acme/web/commits/{SHA}/status", "repos/get-combined-status-for-ref"),
        ("GET", f"{API}/repos/acme/web/commits/release/1.2", "repos/get-commit"),
        ("GET", f"{API}/repos/acme/web/issues/comments/7", "issues/get-comment"),
        ("GET", f"{API}/repos/acme/web/issues/7", "issues/get"),
        (
            "GET",
            f"{API}/repos/acme/web/compare/main...feature",
            "repos/compare-commits-with-basehead",
        ),
        (
            "POST",
            f"{GHES}/app/installations/3/access_tokens",
            "apps/create-installation-access-token",
        ),
        ("GET", "http://127.0.0.1:9000/rate_limit", "rate-limit/get"),
        ("GET", f"{API}/repos/acme/web/invented", None),
        ("DELETE", f"{API}/repos/acme/web/pulls/1", None),
    ],
)
def test_operation_for(method: str, url: str, operation_id: str | None) -> None:
    assert operation_for(method, url) == operation_id


def test_multi_segment_parameters_keep_their_slashes() -> None:
    operation, params, _ = load().find("GET", f"{GHES}/repos/acme/gitops/contents/a/b%20c.yaml")
    assert operation is not None
    assert params == {"owner": "acme", "repo": "gitops", "path": "a/b c.yaml"}


def test_configured_base_url_is_stripped() -> None:
    api = load()
    operation, params, _ = api.find(
        "GET", "http://sandbox:1/gh/users/x", base_url="http://sandbox:1/gh"
    )
    assert operation is not None and operation.operation_id == "users/get-by-username"
    assert params == {"username": "x"}


# --- correct exchanges -----------------------------------------------------------------


def test_create_pull_request_exchange_request_validates() -> None:
    request = {"title": "Deploy web to prod", "head": "autostack/deploy-web-prod", "base": "main"}
    assert validate_request("POST", f"{API}/repos/acme/gitops/pulls", JSON, body(request)) == []


def test_commit_status_exchange_validates() -> None:
    url = f"{GHES}/repos/acme/web/statuses/{SHA}"
    request = {"state": "success", "context": "autostack/prod", "target_url": None}
    assert validate_request("POST", url, JSON, body(request)) == []
    assert validate_response("POST", url, 201, JSON, body(commit_status())) == []


def test_update_ref_exchange_validates() -> None:
    url = f"{API}/repos/acme/gitops/git/refs/heads/autostack/deploy-web-prod"
    assert validate_request("PATCH", url, JSON, body({"sha": SHA, "force": False})) == []
    assert validate_response("PATCH", url, 200, JSON, body(git_ref())) == []


def test_delete_ref_answers_204_without_body() -> None:
    url = f"{API}/repos/acme/gitops/git/refs/heads/old"
    assert validate_request("DELETE", url, {}, None) == []
    assert validate_response("DELETE", url, 204, {}, b"") == []


def test_installation_token_exchange_validates() -> None:
    url = f"{API}/app/installations/3/access_tokens"
    token = {
        "token": "ghs_x",
        "expires_at": "2026-01-01T01:00:00Z",
        "permissions": {"contents": "write"},
    }
    assert validate_request("POST", url, {}, None) == []
    assert validate_response("POST", url, 201, JSON, body(token)) == []


def test_list_with_pagination_query_validates() -> None:
    url = f"{API}/repos/acme/gitops/pulls?state=open&head=acme:autostack/x&per_page=100&page=2"
    assert validate_request("GET", url, {}, None) == []
    assert validate_response("GET", url, 200, JSON, b"[]") == []


def test_generic_error_statuses_are_accepted_with_githubs_error_body() -> None:
    url = f"{API}/rate_limit"
    error = {
        "message": "API rate limit exceeded",
        "documentation_url": "https://docs.github.com/rest",
    }
    assert validate_response("GET", url, 403, JSON, body(error)) == []
    assert validate_response("GET", url, 304, {}, b"") == []


def test_in_progress_check_run_may_have_a_null_conclusion() -> None:
    api = load()
    pointer = "/components/schemas/check-run/properties/conclusion"
    assert api.schema_errors(pointer, None, writing=False) == []
    assert api.schema_errors(pointer, "green", writing=False) != []


# --- rejected exchanges ----------------------------------------------------------------


def test_unknown_path_is_refused() -> None:
    assert validate_request("GET", f"{API}/repos/acme/web/deploy-magic", {}, None) == [
        "no such operation in GitHub's API: GET /repos/acme/web/deploy-magic"
    ]


def test_wrong_method_is_refused_with_the_allowed_ones() -> None:
    assert validate_request("DELETE", f"{API}/repos/acme/web/pulls/1", {}, None) == [
        "no such operation in GitHub's API: DELETE /repos/acme/web/pulls/1 "
        "(the path allows GET, PATCH)"
    ]


def test_missing_required_request_field_is_named() -> None:
    request = {"title": "Deploy", "base": "main"}
    assert validate_request("POST", f"{API}/repos/acme/gitops/pulls", JSON, body(request)) == [
        "POST /repos/{owner}/{repo}/pulls: request body: $: 'head' is a required property"
    ]


def test_wrong_request_type_and_enum_are_named() -> None:
    url = f"{API}/repos/acme/web/statuses/{SHA}"
    violations = validate_request("POST", url, JSON, body({"state": "green", "context": 7}))
    assert violations == [
        "POST /repos/{owner}/{repo}/statuses/{sha}: request body: $.state: "
        "'green' is not one of ['error', 'failure', 'pending', 'success']",
        "POST /repos/{owner}/{repo}/statuses/{sha}: request body: $.context: "
        "7 is not of type 'string'",
    ]


def test_missing_request_body_is_refused() -> None:
    assert validate_request("POST", f"{API}/repos/acme/web/statuses/{SHA}", JSON, None) == [
        "POST /repos/{owner}/{repo}/statuses/{sha}: missing required request body"
    ]


def test_bad_path_and_query_parameters_are_named() -> None:
    violations = validate_request("GET", f"{API}/repos/acme/web/issues/abc?sort=oldest", {}, None)
    assert violations == [
        "GET /repos/{owner}/{repo}/issues/{issue_number}: unknown query parameter 'sort'",
        "GET /repos/{owner}/{repo}/issues/{issue_number}: path parameter 'issue_number': "
        "'abc' is not of type 'integer'",
    ]
    violations = validate_request("GET", f"{API}/repos/acme/gitops/pulls?state=merged", {}, None)
    assert violations == [
        "GET /repos/{owner}/{repo}/pulls: query parameter 'state': "
        "'merged' is not one of ['open', 'closed', 'all']"
    ]


def test_undocumented_status_is_refused() -> None:
    url = f"{API}/repos/acme/gitops/pulls"
    assert validate_response("POST", url, 200, JSON, b"{}") == [
        "POST /repos/{owner}/{repo}/pulls: status 200 is not documented (documented: 201, 403, 422)"
    ]


def test_missing_required_response_field_is_named() -> None:
    ref = git_ref()
    del ref["object"]["sha"]
    url = f"{API}/repos/acme/gitops/git/ref/heads/main"
    assert validate_response("GET", url, 200, JSON, body(ref)) == [
        "GET /repos/{owner}/{repo}/git/ref/{ref}: response body: $.object: "
        "'sha' is a required property"
    ]


def test_wrong_response_type_in_nested_user_is_named() -> None:
    status = commit_status()
    status["creator"]["id"] = "1"
    url = f"{API}/repos/acme/web/statuses/{SHA}"
    assert validate_response("POST", url, 201, JSON, body(status)) == [
        "POST /repos/{owner}/{repo}/statuses/{sha}: response body: $.creator.id: "
        "'1' is not of type 'integer'"
    ]


def test_wrong_content_type_and_stray_body_are_refused() -> None:
    url = f"{API}/repos/acme/gitops/git/ref/heads/main"
    assert validate_response("GET", url, 200, {"Content-Type": "text/plain"}, b"x") == [
        "GET /repos/{owner}/{repo}/git/ref/{ref}: response Content-Type 'text/plain' "
        "is not one of application/json"
    ]
    url = f"{API}/repos/acme/gitops/git/refs/heads/old"
    assert validate_response("DELETE", url, 204, JSON, b"{}") == [
        "DELETE /repos/{owner}/{repo}/git/refs/{ref}: status 204 must have an empty body"
    ]


def test_error_body_of_a_generic_status_is_checked() -> None:
    url = f"{API}/rate_limit"
    assert validate_response("GET", url, 503, JSON, body({"message": 5})) == [
        "GET /rate_limit: response body: $.message: 5 is not of type 'string'"
    ]
