"""The audit log: append, filter, and a hash chain that exposes tampering."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, update

from bot.adapters.clock import FakeClock
from bot.audit import AuditLog
from bot.store import AuditRow, Store


def fill(log: AuditLog, clock: FakeClock) -> None:
    log.record(
        "command",
        actor="octocat",
        summary="/deploy prod",
        delivery_id="d1",
        app="shop",
        env="prod",
    )
    clock.advance(1)
    log.record(
        "decision",
        actor="autostack",
        summary="allowed: maintain >= maintain",
        app="shop",
        env="prod",
        delivery_id="d1",
    )
    clock.advance(1)
    log.record(
        "action",
        actor="autostack",
        summary="opened GitOps PR #7",
        app="shop",
        env="prod",
        before={"image": "ghcr.io/acme/shop:aaa"},
        after={"image": "ghcr.io/acme/shop:bbb"},
        pr=7,
    )
    clock.advance(1)
    log.record("command", actor="hubot", summary="/status", app="cart", env="dev")


def test_records_and_filters_entries(store: Store, clock: FakeClock) -> None:
    log = AuditLog(store, clock)
    fill(log, clock)
    entries = log.entries()
    assert [e.kind for e in entries] == ["command", "decision", "action", "command"]
    assert entries[0].at == clock.now() - timedelta(seconds=3)
    assert entries[2].details == {
        "before": {"image": "ghcr.io/acme/shop:aaa"},
        "after": {"image": "ghcr.io/acme/shop:bbb"},
        "pr": 7,
    }
    assert [e.summary for e in log.entries(app="cart")] == ["/status"]
    assert len(log.entries(app="shop", env="prod")) == 3
    assert log.entries(app="shop", env="dev") == []
    assert entries[1].prev_hash == entries[0].hash
    assert log.verify().intact


def test_verify_names_the_first_tampered_entry(store: Store, clock: FakeClock) -> None:
    log = AuditLog(store, clock)
    fill(log, clock)
    ids = [e.id for e in log.entries()]
    with store.write() as session:
        session.execute(
            update(AuditRow).where(AuditRow.id == ids[2]).values(summary="opened GitOps PR #8")
        )
    assert log.verify().first_bad == ids[2]


def test_verify_detects_a_rewritten_detail_and_a_deleted_entry(
    store: Store, clock: FakeClock
) -> None:
    log = AuditLog(store, clock)
    fill(log, clock)
    ids = [e.id for e in log.entries()]
    with store.write() as session:
        session.execute(delete(AuditRow).where(AuditRow.id == ids[1]))
    assert log.verify().first_bad == ids[2]
    with store.write() as session:
        session.execute(update(AuditRow).where(AuditRow.id == ids[0]).values(details={"x": 1}))
    assert log.verify().first_bad == ids[0]


def test_concurrent_appends_keep_one_chain(store: Store, clock: FakeClock) -> None:
    log = AuditLog(store, clock)
    barrier = threading.Barrier(6)

    def append(n: int) -> None:
        barrier.wait()
        for i in range(5):
            log.record("action", actor=f"w{n}", summary=f"step {i}")

    threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.entries()) == 30
    assert log.verify().intact
