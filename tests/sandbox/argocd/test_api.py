"""The API surface: auth, filtering, the watch stream, faults, the request log, the validator."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.sandbox.argocd.conftest import CheckedClient, Sandbox
from tests.support.argocd_swagger import validate_argocd_request, validate_argocd_response


def names(response: httpx.Response) -> list[str]:
    return [a["metadata"]["name"] for a in response.json()["items"]]


def test_every_api_call_needs_a_valid_bearer_token(sandbox: Sandbox) -> None:
    anonymous = CheckedClient(sandbox.server.url, None)
    response = anonymous.get("/api/v1/applications")
    assert response.status_code == 401
    assert response.json() == {
        "error": "no session information",
        "code": 16,
        "message": "no session information",
    }
    wrong = CheckedClient(sandbox.server.url, "not-the-token")
    for path in ("/api/v1/applications/web-dev", "/api/v1/stream/applications"):
        refused = wrong.get(path)
        assert refused.status_code == 401
        assert refused.json()["code"] == 16
    cookie = httpx.get(
        f"{sandbox.server.url}/api/v1/applications",
        cookies={"argocd.token": sandbox.state.token},
    )
    assert cookie.status_code == 200


def test_userinfo_names_the_token_s_account(sandbox: Sandbox) -> None:
    client = CheckedClient(sandbox.server.url, sandbox.state.token)
    answer = client.get("/api/v1/session/userinfo")
    assert answer.status_code == 200
    assert answer.json()["loggedIn"] is True
    refused = CheckedClient(sandbox.server.url, "not-the-token").get("/api/v1/session/userinfo")
    assert refused.status_code == 401


def test_list_filters_by_selector_name_and_project(sandbox: Sandbox) -> None:
    client = sandbox.client
    assert names(client.get("/api/v1/applications")) == ["api-dev", "web-dev", "web-prod"]
    assert names(client.get("/api/v1/applications", selector="autostack.dev/app=web")) == [
        "web-dev",
        "web-prod",
    ]
    in_dev = client.get("/api/v1/applications", selector="autostack.dev/env in (dev),!legacy")
    assert names(in_dev) == ["api-dev", "web-dev"]
    not_web = client.get("/api/v1/applications", selector="autostack.dev/app!=web")
    assert names(not_web) == ["api-dev"]
    assert names(client.get("/api/v1/applications", name="web-prod")) == ["web-prod"]
    assert names(client.get("/api/v1/applications", projects=["production"])) == ["web-prod"]
    bad = client.get("/api/v1/applications", selector="a in b")
    assert bad.status_code == 400 and bad.json()["code"] == 3


def read_stream(lines: object, count: int) -> list[dict]:
    messages = []
    for line in lines:  # type: ignore[attr-defined]
        if not line.strip():
            continue
        assert validate_argocd_response("GET", "/api/v1/stream/applications", 200, line) == []
        messages.append(json.loads(line.removeprefix("data:")))
        if len(messages) == count:
            break
    return messages


def test_watch_stream_sends_added_then_modified_on_change(sandbox: Sandbox) -> None:
    http = sandbox.client.http
    with http.stream("GET", "/api/v1/stream/applications", params={"name": "web-dev"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("application/json")
        lines = stream.iter_lines()
        (added,) = read_stream(lines, 1)
        assert added["result"]["type"] == "ADDED"
        assert added["result"]["application"]["metadata"]["name"] == "web-dev"
        sha = sandbox.repo.set_image("web", "dev", "v2")
        sandbox.state.poll_now()
        seen: list[dict] = []

        def done() -> bool:
            operation = seen[-1]["status"]["operationState"] if seen else {}
            return (
                operation.get("syncResult", {}).get("revision") == sha
                and operation["phase"] == "Succeeded"
            )

        while not done():
            (message,) = read_stream(lines, 1)
            assert message["result"]["type"] == "MODIFIED"
            seen.append(message["result"]["application"])
        assert seen[-1]["status"]["sync"] == {
            **seen[-1]["status"]["sync"],
            "revision": sha,
            "status": "Synced",
        }
        assert seen[0]["status"]["sync"]["status"] == "OutOfSync"
        assert "Running" in [a["status"]["operationState"]["phase"] for a in seen]
        versions = [int(a["metadata"]["resourceVersion"]) for a in seen]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_watch_stream_as_server_sent_events_with_a_selector(sandbox: Sandbox) -> None:
    params = {"selector": "autostack.dev/env=dev"}
    headers = {"Accept": "text/event-stream"}
    http = sandbox.client.http
    with http.stream(
        "GET", "/api/v1/stream/applications", params=params, headers=headers
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = next(line for line in lines if line.strip())
        assert first.startswith("data: {")
        second = read_stream(lines, 1)[0]
    added = {json.loads(first[5:])["result"]["application"]["metadata"]["name"]}
    added.add(second["result"]["application"]["metadata"]["name"])
    assert added == {"api-dev", "web-dev"}


def test_outage_and_latency_apply_to_the_api_only(sandbox: Sandbox) -> None:
    sandbox.control("POST", "outage", {"mode": "503"})
    down = sandbox.client.get("/api/v1/applications/web-dev")
    assert down.status_code == 503
    assert down.json()["code"] == 14
    assert sandbox.control("GET", "scenarios")["outage"] == "503"

    sandbox.control("POST", "outage", {"mode": "drop"})
    with pytest.raises(httpx.TransportError):
        sandbox.client.http.get("/api/v1/applications")

    sandbox.control("POST", "outage", {"mode": None})
    sandbox.control("POST", "latency", {"seconds": 0.3})
    started = time.monotonic()
    assert sandbox.client.get("/api/v1/applications").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_request_log_records_route_templates(sandbox: Sandbox) -> None:
    sandbox.control("DELETE", "requests")
    sandbox.client.app("web-dev")
    sandbox.client.get("/api/v1/applications/web-dev/resource-tree")
    sandbox.client.get("/api/v1/applications/nope")
    log = sandbox.control("GET", "requests")
    assert [(r["method"], r["route"], r["status"]) for r in log] == [
        ("GET", "/api/v1/applications/{name}", 200),
        ("GET", "/api/v1/applications/{applicationName}/resource-tree", 200),
        ("GET", "/api/v1/applications/{name}", 404),
    ]


def test_unknown_api_routes_answer_with_the_gateway_error_body(sandbox: Sandbox) -> None:
    response = sandbox.client.http.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "code": 5, "message": "Not Found"}


def test_the_validator_reports_violations() -> None:
    app = {"metadata": {"name": "a"}, "status": {"reconcileAt": "2026-01-01T00:00:00Z"}}
    assert validate_argocd_response("GET", "/api/v1/applications/a", 200, app) != []
    history = {"status": {"history": [{"id": "x1", "deployedAt": "yesterday"}]}}
    problems = validate_argocd_response("GET", "/api/v1/applications/a", 200, history)
    assert len(problems) == 2
    assert validate_argocd_response("GET", "/api/v1/nowhere", 200, {}) != []
    assert validate_argocd_response("GET", "/api/v1/applications/a/logs", 200, "not json\n") != []
    assert validate_argocd_request("GET", "/api/v1/applications", {"refresh": "hard"}) == []
    assert validate_argocd_request("GET", "/api/v1/applications", {"selectr": "a=b"}) != []
    assert validate_argocd_request("POST", "/api/v1/applications/a/sync", None, {"prune": 1}) != []
    assert validate_argocd_request("POST", "/api/v1/applications/a/sync", None, None) != []
