"""Webhooks are signed, complete, ordered, logged and redeliverable."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

from tests.sandbox.github.conftest import World


def test_deliveries_are_signed_with_the_webhook_secret(world: World) -> None:
    gh = world.gh
    gh.call("POST", "/repos/alice/app/issues", json={"user": "alice", "title": "Bug"})
    gh.call("POST", "/repos/alice/app/issues/1/comments", json={"user": "alice", "body": "/help"})
    gh.flush()
    delivery = world.hooks.of("issue_comment", "created")[-1]
    secret = gh.state.webhook_secret.encode()
    expected = hmac.new(secret, delivery.body, hashlib.sha256).hexdigest()
    headers = delivery.headers
    assert headers["x-hub-signature-256"] == f"sha256={expected}"
    sha1 = hmac.new(secret, delivery.body, hashlib.sha1).hexdigest()
    assert headers["x-hub-signature"] == f"sha1={sha1}"
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"GitHub-Hookshot/[0-9a-f]+", headers["user-agent"])
    uuid.UUID(headers["x-github-delivery"])
    assert headers["x-github-hook-installation-target-type"] == "integration"
    assert headers["x-github-hook-installation-target-id"] == str(gh.state.app_id)
    assert headers["x-github-hook-id"].isdigit()
    payload = delivery.payload
    assert payload["comment"]["body"] == "/help"
    assert payload["installation"]["id"] == world.installation
    assert payload["sender"]["login"] == "alice"
    assert payload["repository"]["full_name"] == "alice/app"


def test_no_webhooks_for_repositories_without_the_app(world: World) -> None:
    gh = world.gh
    gh.repo("alice", "other")
    gh.call("POST", "/repos/alice/other/push", json={"user": "alice", "files": {"x": "y"}})
    gh.flush()
    assert all(r.payload["repository"]["name"] == "app" for r in world.hooks.of("push"))


def test_installation_events(world: World) -> None:
    gh = world.gh
    gh.repo("alice", "more")
    gh.call("POST", f"/installations/{world.installation}/repositories", json={"add": ["more"]})
    gh.call("POST", f"/installations/{world.installation}/repositories", json={"remove": ["app"]})
    gh.flush()
    events = world.hooks.events()
    assert events[0] == ("installation", "created")
    assert events[-2:] == [
        ("installation_repositories", "added"),
        ("installation_repositories", "removed"),
    ]
    added = world.hooks.of("installation_repositories", "added")[0].payload
    assert [r["full_name"] for r in added["repositories_added"]] == ["alice/more"]
    assert gh.api(world.token).get("/repos/alice/app").status_code == 404


def test_failed_deliveries_are_logged_and_redelivered(world: World) -> None:
    gh = world.gh
    world.hooks.status = 500
    gh.call("POST", "/repos/alice/app/push", json={"user": "alice", "files": {"a": "1"}})
    gh.flush()
    failed = gh.call("GET", "/webhooks/deliveries", params={"event": "push"})[-1]
    assert failed["status_code"] == 500
    assert failed["status"] == "Invalid HTTP Response: 500"
    world.hooks.status = 200
    redelivered = gh.call("POST", f"/webhooks/deliveries/{failed['id']}/redeliver")
    gh.flush()
    again = gh.call("GET", f"/webhooks/deliveries/{redelivered['id']}")
    assert again["status_code"] == 200 and again["redelivery"] is True
    pushes = world.hooks.of("push")
    assert pushes[-1].headers["x-github-delivery"] == pushes[-2].headers["x-github-delivery"]
    assert pushes[-1].body == pushes[-2].body


def test_injected_delivery_failure_skips_the_post(world: World) -> None:
    gh = world.gh
    gh.call("POST", "/faults", json={"kind": "webhook", "event": "pull_request", "first": 1})
    gh.call(
        "POST", "/repos/alice/app/push", json={"user": "alice", "branch": "f", "files": {"a": "1"}}
    )
    gh.call("POST", "/repos/alice/app/pulls", json={"user": "alice", "head": "f", "title": "F"})
    gh.flush()
    assert world.hooks.of("pull_request") == []
    failed = gh.call("GET", "/webhooks/deliveries", params={"event": "pull_request"})[-1]
    assert failed["status"].startswith("failed")
    gh.call("POST", f"/webhooks/deliveries/{failed['id']}/redeliver")
    gh.flush()
    assert [r.payload["action"] for r in world.hooks.of("pull_request")] == ["opened"]


def test_simulated_ci_sends_workflow_runs(world: World) -> None:
    gh = world.gh
    sha = gh.call("POST", "/repos/alice/app/push", json={"user": "alice", "files": {"a": "1"}})[
        "sha"
    ]
    gh.call("POST", "/repos/alice/app/ci", json={"sha": sha, "conclusion": "failure"})
    gh.flush()
    runs = [r.payload for r in world.hooks.of("workflow_run")]
    assert [r["action"] for r in runs] == ["requested", "completed"]
    done = runs[-1]["workflow_run"]
    assert (done["head_sha"], done["status"], done["conclusion"]) == (sha, "completed", "failure")
    assert done["name"] == "AutoStack build"
    assert done["path"] == ".github/workflows/autostack-build.yml"
    assert runs[-1]["workflow"]["path"] == ".github/workflows/autostack-build.yml"
