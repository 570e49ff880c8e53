"""Failure modes: manifests that do not render, apply failures, slow syncs, stale status."""

from __future__ import annotations

from tests.sandbox.argocd.conftest import Sandbox

BROKEN = "resources:\n  - ../../base\n  - missing.yaml\n"


def test_unrenderable_manifests_fail_a_manual_sync(sandbox: Sandbox) -> None:
    sandbox.repo.write("apps/web/overlays/prod/kustomization.yaml", BROKEN)
    sandbox.repo.commit("Break the prod overlay")
    status = sandbox.client.app("web-prod", refresh="normal")["status"]
    assert status["sync"]["status"] == "Unknown"
    condition = status["conditions"][0]
    assert condition["type"] == "ComparisonError"
    assert "`kustomize build apps/web/overlays/prod` failed exit status 1" in condition["message"]
    assert "missing.yaml" in condition["message"]

    assert sandbox.client.sync("web-prod").status_code == 200
    sandbox.state.wait_idle()
    status = sandbox.client.app("web-prod")["status"]
    operation = status["operationState"]
    assert operation["phase"] == "Error"
    assert operation["message"].startswith("ComparisonError: Failed to load target state")
    assert "finishedAt" in operation
    assert status["health"]["status"] == "Missing"
    assert "history" not in status


def test_an_unrenderable_head_stops_auto_sync_and_keeps_what_runs(sandbox: Sandbox) -> None:
    before = sandbox.client.app("web-dev")["status"]
    sandbox.repo.write("apps/web/overlays/dev/kustomization.yaml", BROKEN)
    sandbox.repo.commit("Break the dev overlay")
    sandbox.state.poll_now()
    status = sandbox.client.app("web-dev")["status"]
    assert status["sync"]["status"] == "Unknown"
    assert [c["type"] for c in status["conditions"]] == ["ComparisonError"]
    assert status["operationState"] == before["operationState"]
    assert status["summary"]["images"] == ["ghcr.io/acme/web:v1"]

    sandbox.repo.set_image("web", "dev", "v3")
    sandbox.state.poll_now()
    status = sandbox.client.app("web-dev")["status"]
    assert "conditions" not in status
    assert status["sync"]["status"] == "Synced"
    assert status["summary"]["images"] == ["ghcr.io/acme/web:v3"]


def test_apply_failures_fail_the_operation_and_block_retries(sandbox: Sandbox) -> None:
    sandbox.control(
        "POST",
        "apply-failures",
        {"resource": "Deployment/web", "message": 'admission webhook "policy" denied the request'},
    )
    sha = sandbox.repo.set_image("web", "dev", "v2")
    sandbox.state.poll_now()
    status = sandbox.client.app("web-dev")["status"]
    operation = status["operationState"]
    assert operation["phase"] == "Failed"
    assert operation["message"].startswith("one or more objects failed to apply, reason:")
    result = {r["kind"]: r["status"] for r in operation["syncResult"]["resources"]}
    assert result == {"Deployment": "SyncFailed", "Service": "Synced"}
    assert status["sync"]["status"] == "OutOfSync"

    sandbox.state.poll_now()  # the same revision is not retried automatically
    status = sandbox.client.app("web-dev")["status"]
    error = next(c for c in status["conditions"] if c["type"] == "SyncError")
    assert error["message"].startswith(f"Failed sync attempt to {sha}: one or more objects")
    assert len(status["history"]) == 1


def test_a_slow_sync_stays_running_until_its_time_is_up(sandbox: Sandbox) -> None:
    sandbox.control("POST", "slow-sync", {"seconds": 30})
    assert sandbox.client.sync("web-prod").status_code == 200
    sandbox.state.wait_idle()
    app = sandbox.client.app("web-prod")
    assert app["status"]["operationState"]["phase"] == "Running"
    assert "finishedAt" not in app["status"]["operationState"]
    assert "operation" in app
    sandbox.advance(31)
    app = sandbox.client.app("web-prod")
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    assert "operation" not in app


def test_stale_status_keeps_reconciled_at_behind_the_last_operation(sandbox: Sandbox) -> None:
    sandbox.control("POST", "stale-status", {"enabled": True})
    sandbox.clock.advance(60)
    sandbox.repo.set_image("web", "prod", "v2")
    sandbox.client.sync("web-prod")
    sandbox.state.wait_idle()
    status = sandbox.client.app("web-prod", refresh="normal")["status"]
    assert status["operationState"]["phase"] == "Succeeded"
    assert status["reconciledAt"] < status["operationState"]["finishedAt"]
    assert status["sync"]["status"] == "OutOfSync"  # what the controller saw before

    sandbox.control("POST", "stale-status", {"enabled": False})
    status = sandbox.client.app("web-prod", refresh="normal")["status"]
    assert status["reconciledAt"] >= status["operationState"]["finishedAt"]
    assert status["sync"]["status"] == "Synced"
