"""Simulated rollouts: Progressing then Healthy, Degraded pods with a tree, events and logs."""

from __future__ import annotations

from typing import Any

from tests.sandbox.argocd.conftest import Sandbox


def tree(sandbox: Sandbox, app: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = sandbox.client.get(f"/api/v1/applications/{app}/resource-tree")
    assert response.status_code == 200
    return {(n["kind"], n["name"]): n for n in response.json()["nodes"]}


def test_progressing_for_the_configured_time_then_healthy(sandbox: Sandbox) -> None:
    status = sandbox.client.app("web-dev")["status"]
    assert status["health"]["status"] == "Progressing"
    sandbox.advance(4)
    assert sandbox.client.app("web-dev")["status"]["health"]["status"] == "Progressing"
    sandbox.advance(2)
    status = sandbox.client.app("web-dev")["status"]
    assert status["health"] == {"status": "Healthy", "lastTransitionTime": "2026-01-01T00:00:06Z"}
    nodes = tree(sandbox, "web-dev")
    deployment = nodes[("Deployment", "web")]
    replica_set = next(n for (kind, _), n in nodes.items() if kind == "ReplicaSet")
    pod = next(n for (kind, _), n in nodes.items() if kind == "Pod")
    assert replica_set["parentRefs"][0]["uid"] == deployment["uid"]
    assert pod["parentRefs"][0]["uid"] == replica_set["uid"]
    assert pod["name"].startswith(replica_set["name"] + "-")
    assert {n["health"]["status"] for n in (deployment, replica_set, pod)} == {"Healthy"}
    assert pod["images"] == ["ghcr.io/acme/web:v1"]


def test_a_bad_image_degrades_with_crash_looping_pod_events_and_logs(sandbox: Sandbox) -> None:
    lines = ["booting", "panic: cannot connect to database", "goroutine 1 [running]:"]
    sandbox.control("POST", "bad-images", {"image": "ghcr.io/acme/web:v2*", "logLines": lines})
    sandbox.repo.set_image("web", "dev", "v2")
    sandbox.state.poll_now()
    assert sandbox.client.app("web-dev")["status"]["health"]["status"] == "Progressing"
    sandbox.advance(6)
    status = sandbox.client.app("web-dev")["status"]
    assert status["health"]["status"] == "Degraded"
    assert status["sync"]["status"] == "Synced"
    deployment = next(r for r in status["resources"] if r["kind"] == "Deployment")
    assert deployment["health"] == {
        "status": "Degraded",
        "message": 'Deployment "web" exceeded its progress deadline',
    }

    pod = next(n for (kind, _), n in tree(sandbox, "web-dev").items() if kind == "Pod")
    assert pod["health"]["status"] == "Degraded"
    assert "back-off 5m0s restarting failed container=web" in pod["health"]["message"]
    assert {"name": "Status Reason", "value": "CrashLoopBackOff"} in pod["info"]

    events = sandbox.client.get(
        "/api/v1/applications/web-dev/events",
        resourceName=pod["name"],
        resourceNamespace=pod["namespace"],
        resourceUID=pod["uid"],
    ).json()["items"]
    backoff = next(e for e in events if e["reason"] == "BackOff")
    assert backoff["type"] == "Warning"
    assert backoff["message"].startswith("Back-off restarting failed container web in pod")
    assert backoff["involvedObject"]["uid"] == pod["uid"]

    app_events = sandbox.client.get("/api/v1/applications/web-dev/events").json()["items"]
    messages = [e["message"] for e in app_events]
    assert "Updated health status: Progressing -> Degraded" in messages

    logs = sandbox.client.get(
        "/api/v1/applications/web-dev/logs", podName=pod["name"], container="web"
    )
    entries = [m["result"] for m in sandbox.client.stream_messages(logs)]
    assert [e["content"] for e in entries[:-1]][-3:] == lines
    assert entries[-1]["last"] is True
    assert all(e["podName"] == pod["name"] for e in entries[:-1])

    by_owner = sandbox.client.get(
        "/api/v1/applications/web-dev/logs",
        kind="Deployment",
        group="apps",
        resourceName="web",
        tailLines="1",
    )
    tail = [m["result"] for m in sandbox.client.stream_messages(by_owner)]
    assert [e["content"] for e in tail] == ["goroutine 1 [running]:", ""]


def test_image_pull_failures_and_recovery_by_rolling_back(sandbox: Sandbox) -> None:
    sandbox.control(
        "POST", "bad-images", {"image": "ghcr.io/acme/web:v9", "reason": "ImagePullBackOff"}
    )
    sandbox.repo.set_image("web", "dev", "v9")
    sandbox.state.poll_now()
    sandbox.advance(6)
    assert sandbox.client.app("web-dev")["status"]["health"]["status"] == "Degraded"
    pod = next(n for (kind, _), n in tree(sandbox, "web-dev").items() if kind == "Pod")
    events = sandbox.client.get(
        "/api/v1/applications/web-dev/events", resourceName=pod["name"]
    ).json()["items"]
    failed = [e["message"] for e in events if e["reason"] == "Failed"]
    assert any(m.startswith('Failed to pull image "ghcr.io/acme/web:v9"') for m in failed)

    sandbox.repo.set_image("web", "dev", "v1")
    sandbox.state.poll_now()
    assert sandbox.client.app("web-dev")["status"]["health"]["status"] == "Progressing"
    sandbox.advance(6)
    status = sandbox.client.app("web-dev")["status"]
    assert status["health"]["status"] == "Healthy"
    assert [h["id"] for h in status["history"]] == [0, 1, 2]


def test_progressing_duration_is_set_through_the_control_api(sandbox: Sandbox) -> None:
    sandbox.control("POST", "progressing", {"seconds": 0})
    sandbox.state.tick()
    assert sandbox.client.app("web-dev")["status"]["health"]["status"] == "Healthy"


def test_managed_resources_compare_git_with_the_cluster(sandbox: Sandbox) -> None:
    response = sandbox.client.get("/api/v1/applications/web-prod/managed-resources")
    items = {i["kind"]: i for i in response.json()["items"]}
    assert items["Deployment"]["modified"] is True
    assert items["Deployment"]["liveState"] == "null"
    assert '"ghcr.io/acme/web:v1"' in items["Deployment"]["targetState"]
    dev = sandbox.client.get("/api/v1/applications/web-dev/managed-resources").json()["items"]
    assert {i["modified"] for i in dev} == {False}
