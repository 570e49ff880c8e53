"""``--output json`` of ``autostack deliveries`` and ``autostack audit``: one JSON document
with the rows the tables show, stored text kept exactly, parsed back here."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

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
from sandbox.processes import autostack_argv, clean_environment

HOSTILE = "evil\x1b[31m\nsecond line\ud800"
# The audit log hashes its entries as UTF-8: no lone surrogate there.
HOSTILE_SUMMARY = "evil\x1b[31m\nsecond line\u202e"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The webhook secret is the audit log's seal key: without one, --verify exits 2.
    return Settings(data_dir=tmp_path / "data", webhook_secret=SecretStr("audit-seal-key-0"))


@pytest.fixture
def store(settings: Settings) -> Store:
    opened = Store.open(settings.database_url.get_secret_value())
    opened.migrate()
    return opened


def seed_deliveries(store: Store) -> None:
    queue = DeliveryQueue(store, max_attempts=1)
    now = SystemClock().now() - timedelta(minutes=1)
    for delivery_id, repository in (("ok-1", "acme/shop"), ("bad-1", HOSTILE)):
        incoming = IncomingDelivery(
            delivery_id, "issue_comment", "created", 7, repository, {"action": "created"}
        )
        queue.enqueue(incoming, now)
    claimed = queue.claim("w", timedelta(minutes=1), now)
    assert claimed is not None
    queue.fail(claimed, f"PermanentError: {HOSTILE}", permanent=True, now=now)


def test_deliveries_as_json(
    settings: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_deliveries(store)
    assert commands_cli.deliveries(settings, failed=False, output="json") == 0
    out = capsys.readouterr().out
    assert out.isascii()
    rows = json.loads(out)
    assert sorted(row["delivery_id"] for row in rows) == ["bad-1", "ok-1"]
    dead = next(row for row in rows if row["state"] == "dead")
    stored = {row.delivery_id: row for row in DeliveryQueue(store).list()}
    assert dead["last_error"] == stored[dead["delivery_id"]].last_error  # as stored, exactly
    assert "\n" in dead["last_error"] and "\x1b[31m" in dead["last_error"]
    for row in rows:
        value = stored[row["delivery_id"]]
        assert (row["repository"], row["state"]) == (value.repository, value.state)
    assert dead["event"] == "issue_comment" and dead["action"] == "created"
    assert dead["installation_id"] == 7 and dead["attempts"] == 1
    assert dead["received_at"].endswith("+00:00") and dead["finished_at"]

    assert commands_cli.deliveries(settings, failed=True, output="json") == 0
    assert [row["state"] for row in json.loads(capsys.readouterr().out)] == ["dead"]


def test_no_deliveries_is_an_empty_array(
    settings: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands_cli.deliveries(settings, failed=False, output="json") == 0
    assert json.loads(capsys.readouterr().out) == []


def test_audit_as_json_and_its_verification(
    settings: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    log = AuditLog(store)
    log.record("command", actor="octocat", summary="/deploy prod", app="shop", env="prod")
    log.record(
        "decision", actor="autostack", summary=HOSTILE_SUMMARY, app="cart", env="dev", why="x"
    )
    assert commands_cli.audit(settings, app=None, env=None, verify=False, output="json") == 0
    first, second = json.loads(capsys.readouterr().out)
    assert (first["id"], first["kind"]) == (1, "command")
    assert (first["app"], first["env"]) == ("shop", "prod")
    assert first["summary"] == "/deploy prod" and first["actor"] == "octocat"
    assert second["summary"] == HOSTILE_SUMMARY and second["details"]["why"] == "x"
    assert len(second["hash"]) == 64

    assert commands_cli.audit(settings, app="cart", env=None, verify=False, output="json") == 0
    assert [e["app"] for e in json.loads(capsys.readouterr().out)] == ["cart"]

    assert commands_cli.audit(settings, app=None, env=None, verify=True, output="json") == 0
    assert json.loads(capsys.readouterr().out) == {"intact": True, "first_bad_entry": None}
    with store.write() as session:
        session.execute(update(AuditRow).where(AuditRow.id == 2).values(actor="mallory"))
    assert commands_cli.audit(settings, app=None, env=None, verify=True, output="json") == 1
    assert json.loads(capsys.readouterr().out) == {"intact": False, "first_bad_entry": 2}


def test_the_commands_take_output_json(tmp_path: Path, store: Store, settings: Settings) -> None:
    seed_deliveries(store)
    AuditLog(store).record("command", actor="octocat", summary="/status")
    env = clean_environment({"AUTOSTACK_DATA_DIR": str(settings.data_dir)})
    for argv, length in ((["deliveries", "-o", "json"], 2), (["audit", "--output", "JSON"], 1)):
        result = subprocess.run(
            autostack_argv(*argv), env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)) == length
    refused = subprocess.run(
        autostack_argv("audit", "--output", "xml"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "xml" in refused.stderr
