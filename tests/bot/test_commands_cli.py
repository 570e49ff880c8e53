"""The CLI functions: serve's refusal, listing and retrying deliveries, the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from bot import commands_cli
from bot.adapters.clock import SystemClock
from bot.audit import AuditLog
from bot.core.events import IncomingDelivery
from bot.queue import DeliveryQueue
from bot.settings import Settings
from bot.store import AuditRow, Store
from tests.bot.conftest import SECRET


@pytest.fixture
def cli_store(settings: Settings) -> Store:
    store = Store.open(settings.database_url.get_secret_value())
    store.migrate()
    return store


def test_serve_refuses_to_start_without_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert commands_cli.serve(Settings(), "127.0.0.1", 0) == 2
    err = capsys.readouterr().err
    assert "AUTOSTACK_GITHUB_APP_ID" in err and "AUTOSTACK_WEBHOOK_SECRET" in err


def test_serve_never_prints_secrets(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    incomplete = settings.model_copy(update={"gitops_repo": None})
    assert commands_cli.serve(incomplete, "127.0.0.1", 0) == 2
    captured = capsys.readouterr()
    assert "AUTOSTACK_GITOPS_REPO" in captured.err
    assert SECRET not in captured.out + captured.err


def test_deliveries_lists_and_retries(
    settings: Settings, cli_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = DeliveryQueue(cli_store, max_attempts=1)
    now = SystemClock().now() - timedelta(minutes=1)
    for delivery_id in ("ok-1", "bad-1"):
        payload = {"action": "created"}
        queue.enqueue(
            IncomingDelivery(delivery_id, "issue_comment", "created", 1, "a/b", payload), now
        )
    claimed = queue.claim("w", timedelta(minutes=1), now)
    assert claimed is not None
    queue.fail(claimed, "PermanentError: 404 repository not found", permanent=True, now=now)

    assert commands_cli.deliveries(settings, failed=False) == 0
    out = capsys.readouterr().out
    assert "ok-1" in out and "bad-1" in out and "issue_comment.created" in out

    assert commands_cli.deliveries(settings, failed=True) == 0
    out = capsys.readouterr().out
    assert f"{claimed.delivery_id}" in out and "404 repository not found" in out
    other = "ok-1" if claimed.delivery_id == "bad-1" else "bad-1"
    assert other not in out

    assert commands_cli.retry_delivery(settings, claimed.delivery_id) == 0
    assert "queued again" in capsys.readouterr().out
    assert queue.get(claimed.delivery_id).state == "queued"  # type: ignore[union-attr]
    assert commands_cli.retry_delivery(settings, claimed.delivery_id) == 2
    assert commands_cli.retry_delivery(settings, "no-such-id") == 2
    assert "no delivery no-such-id" in capsys.readouterr().err
    assert commands_cli.deliveries(settings, failed=True) == 0
    assert "no failed deliveries" in capsys.readouterr().out


def test_audit_prints_filters_and_verifies(
    settings: Settings, cli_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    log = AuditLog(cli_store)
    log.record("command", actor="octocat", summary="/deploy prod", app="shop", env="prod")
    log.record(
        "decision", actor="autostack", summary="refused: needs maintain", app="cart", env="dev"
    )
    assert commands_cli.audit(settings, app="shop", env=None, verify=False) == 0
    out = capsys.readouterr().out
    assert "/deploy prod" in out and "shop/prod" in out and "refused" not in out

    assert commands_cli.audit(settings, app=None, env=None, verify=True) == 0
    assert "intact" in capsys.readouterr().out
    with cli_store.write() as session:
        session.execute(update(AuditRow).where(AuditRow.id == 1).values(actor="mallory"))
    assert commands_cli.audit(settings, app=None, env=None, verify=True) == 1
    assert "broken at entry 1" in capsys.readouterr().out


def test_audit_on_an_empty_log(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert commands_cli.audit(settings, app=None, env=None, verify=False) == 0
    assert "no audit entries" in capsys.readouterr().out


def test_settings_fixture_is_complete(settings: Settings) -> None:
    settings.require_for_serve()
    assert settings.webhook_secret == SecretStr(SECRET)
