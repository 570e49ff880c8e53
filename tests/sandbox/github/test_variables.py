"""The sandbox's Actions variables routes behave as GitHub documents them, and every request
and answer conforms to GitHub's OpenAPI description."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.github.conftest import Sandbox, World
from tests.support.github_openapi import ExchangeRecorder, ValidatingTransport

VARIABLES = "/repos/alice/app/actions/variables"


def client(gh: Sandbox, recorder: ExchangeRecorder, token: str) -> httpx.Client:
    headers = {"Accept": "application/vnd.github+json", "Authorization": f"token {token}"}
    return httpx.Client(base_url=gh.url, headers=headers, transport=ValidatingTransport(recorder))


def answer(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def test_a_variable_is_created_read_listed_updated_and_deleted(world: World) -> None:
    recorder = ExchangeRecorder(base_url=world.gh.url)
    api = client(world.gh, recorder, world.token)
    assert answer(api.get(f"{VARIABLES}/AUTOSTACK_AWS_ROLE_ARN"), 404)["message"] == "Not Found"
    body = {"name": "autostack_aws_role_arn", "value": "arn:aws:iam::1:role/a"}
    assert answer(api.post(VARIABLES, json=body), 201) == {}
    got = answer(api.get(f"{VARIABLES}/AUTOSTACK_AWS_ROLE_ARN"), 200)
    assert (got["name"], got["value"]) == ("AUTOSTACK_AWS_ROLE_ARN", "arn:aws:iam::1:role/a")
    assert got["created_at"] == got["updated_at"]
    assert answer(api.post(VARIABLES, json=body), 409)["message"].startswith("Already exists")

    update = {"name": "AUTOSTACK_AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/b"}
    assert answer(api.patch(f"{VARIABLES}/autostack_aws_role_arn", json=update), 204) is None
    assert answer(api.get(f"{VARIABLES}/AUTOSTACK_AWS_ROLE_ARN"), 200)["value"].endswith("/b")
    listed = answer(api.get(VARIABLES, params={"per_page": 10}), 200)
    assert listed["total_count"] == 1
    assert [v["name"] for v in listed["variables"]] == ["AUTOSTACK_AWS_ROLE_ARN"]

    assert answer(api.delete(f"{VARIABLES}/AUTOSTACK_AWS_ROLE_ARN"), 204) is None
    assert answer(api.patch(f"{VARIABLES}/AUTOSTACK_AWS_ROLE_ARN", json=update), 404)
    assert answer(api.get(VARIABLES), 200) == {"total_count": 0, "variables": []}
    assert len(recorder.exchanges) == 10
    recorder.assert_conforms()


def test_bad_names_and_values_are_refused(world: World) -> None:
    recorder = ExchangeRecorder(base_url=world.gh.url)
    api = client(world.gh, recorder, world.token)
    for name in ["GITHUB_TOKEN", "1ST", "WITH SPACE", ""]:
        assert api.post(VARIABLES, json={"name": name, "value": "x"}).status_code == 422, name
    recorder.assert_conforms()
    # A body without its required value breaks the description on purpose: sent unchecked.
    raw = httpx.Client(base_url=world.gh.url, headers={"Authorization": f"token {world.token}"})
    assert raw.post(VARIABLES, json={"name": "OK"}).status_code == 422


def test_only_collaborators_with_write_access_see_variables(world: World) -> None:
    gh = world.gh
    api = client(gh, ExchangeRecorder(base_url=gh.url), world.token)
    answer(api.post(VARIABLES, json={"name": "A", "value": "1"}), 201)
    reader = gh.user("rita")
    gh.call("PUT", "/repos/alice/app/permissions/rita", json={"permission": "read"})
    rita = client(gh, ExchangeRecorder(base_url=gh.url), reader)
    assert rita.get(f"{VARIABLES}/A").status_code == 403
    anonymous = httpx.Client(base_url=gh.url)
    assert anonymous.get(f"{VARIABLES}/A").status_code in (401, 404)
