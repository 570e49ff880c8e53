"""GitHub's own response examples pass the validator, except the ones that are out of date."""

from __future__ import annotations

import json
from collections.abc import Iterator

from tests.support.github_openapi import Operation, load

# Examples in GitHub's description that lack fields its schemas (and API) now have: a sender
# that copies one of these produces a violation. (operationId, status, example name)
STALE_EXAMPLES = {
    ("actions/create-repo-variable", "201", "default"),  # null, not the empty object
    ("apps/list-installations", "200", "default"),  # account without name, slug, ...
    ("apps/redeliver-webhook-delivery", "202", "default"),  # null body
    ("issues/get", "200", "default"),  # no assignee, closed_at, comments, ...
    ("issues/get", "200", "pinned_comment"),
    ("orgs/get", "200", "default-response"),  # no archived_at
    ("repos/create-for-authenticated-user", "201", "default"),  # no has_discussions
    ("repos/create-in-org", "201", "default"),
    ("repos/get", "200", "default-response"),  # no language
    ("repos/update", "200", "default"),
    ("repos/get-collaborator-permission-level", "200", "response-if-user-has-admin-permissions"),
    ("repos/get-commit", "200", "default"),  # files[] without sha, contents_url
    ("repos/merge", "201", "default"),
    ("repos/list-branches", "200", "default"),  # protection without checks
    ("users/get-authenticated", "200", "response-with-public-and-private-profile-information"),
    ("users/get-authenticated", "200", "response-with-public-profile-information"),
    ("users/get-by-username", "200", "default-response"),  # no user_view_type
    ("users/get-by-username", "200", "response-with-git-hub-plan-information"),
}


def sample_url(operation: Operation) -> str:
    path = operation.template
    for param in operation.parameters:
        if param.location == "path":
            value = "1" if param.schema.get("type") == "integer" else "x"
            path = path.replace(f"{{{param.name}}}", value)
    return f"https://api.github.com{path}"


def examples() -> Iterator[tuple[Operation, str, str, str, bytes]]:
    api = load()
    for operation in api.operations:
        for status, response in operation.definition["responses"].items():
            for media, content in (api.resolve(response).get("content") or {}).items():
                for name, example in (content.get("examples") or {}).items():
                    value = api.resolve(example).get("value")
                    data = value.encode() if isinstance(value, str) else json.dumps(value).encode()
                    yield operation, status, media, name, data


def test_githubs_examples_validate_except_the_stale_ones() -> None:
    api = load()
    failing, passing = set(), 0
    for operation, status, media, name, data in examples():
        headers = {"Content-Type": f"{media}; charset=utf-8"}
        url = sample_url(operation)
        if api.validate_response(operation.method, url, int(status), headers, data):
            failing.add((operation.operation_id, status, name))
        else:
            passing += 1
    assert failing == STALE_EXAMPLES
    assert passing >= 80


def test_a_stale_example_fails_for_the_documented_reason() -> None:
    api = load()
    [(operation, data)] = [
        (op, data)
        for op, status, _, name, data in examples()
        if (op.operation_id, status, name) == ("orgs/get", "200", "default-response")
    ]
    assert api.validate_response(
        "GET", sample_url(operation), 200, {"Content-Type": "application/json"}, data
    ) == ["GET /orgs/{org}: response body: $: 'archived_at' is a required property"]
