"""A change of health refreshes the Application, as Argo CD's controller does when one of an
Application's resources changes: ``reconciledAt`` moves with ``health.lastTransitionTime``,
so a Healthy reached after a sync is visibly judged after that sync, without a repo poll."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.sandbox.argocd.conftest import Sandbox


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_turning_healthy_after_a_sync_is_a_reconciliation(sandbox: Sandbox) -> None:
    sandbox.advance(6)  # the seeded version rolls out
    sandbox.repo.set_image("web", "dev", "v2")
    sandbox.state.poll_now()  # the last poll for the next hour (poll_interval=3600)
    synced = sandbox.client.app("web-dev")["status"]
    assert synced["health"]["status"] == "Progressing"
    finished = _time(synced["operationState"]["finishedAt"])
    assert _time(synced["reconciledAt"]) == finished  # compared once, as the sync ended

    sandbox.advance(3)
    assert sandbox.client.app("web-dev")["status"]["reconciledAt"] == synced["reconciledAt"]
    sandbox.advance(3)
    healthy = sandbox.client.app("web-dev")["status"]
    assert healthy["health"]["status"] == "Healthy"
    assert healthy["health"]["lastTransitionTime"] == "2026-01-01T00:00:12Z"
    assert healthy["reconciledAt"] == healthy["health"]["lastTransitionTime"]
    assert _time(healthy["reconciledAt"]) > finished
    assert healthy["sync"]["status"] == "Synced"
    assert healthy["operationState"]["finishedAt"] == synced["operationState"]["finishedAt"]


def test_a_steady_health_leaves_reconciled_at_alone(sandbox: Sandbox) -> None:
    sandbox.advance(6)
    before = sandbox.client.app("web-dev")["status"]
    assert before["health"]["status"] == "Healthy"
    sandbox.advance(30)
    after = sandbox.client.app("web-dev")["status"]
    assert after["reconciledAt"] == before["reconciledAt"]
    assert after["health"] == before["health"]
