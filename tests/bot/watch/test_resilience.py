"""The watcher through an Argo CD outage, a restart, and with several replicas."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient

from bot.adapters.argocd import BreakerState
from bot.store import Store
from bot.watch.leader import Leadership
from bot.wiring import build_app
from tests.bot.watch.harness import PROGRESSING_SECONDS, Bot, until_state


def test_argo_cd_down_opens_the_breaker_and_following_resumes_after(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(
        bot.settings,
        clock=bot.clock,
        github=bot.github,
        argocd=bot.argocd,
        store=bot.store,
        on_start=(),
    )
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    bot.tick(watcher)
    bot.control("outage", {"mode": "503"})
    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="bot.watch"):
        for _ in range(4):
            bot.tick(watcher)
        assert bot.argocd.state is BreakerState.OPEN
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["argocd"].startswith("failing")
        assert bot.get(deployment).state == "syncing"
        outage_logs = [r for r in caplog.records if "Argo CD is unavailable" in r.message]
        assert len(outage_logs) == 1

        bot.control("outage", {"mode": None})
        bot.advance(31)  # the breaker's cool-down
        bot.run(watcher, until_state(bot, deployment, "succeeded", "failed", "timed_out"))
        assert bot.get(deployment).state == "succeeded"
        assert bot.argocd.state is BreakerState.CLOSED
        assert client.get("/readyz").status_code == 200
    assert not watcher.argo_down


def test_a_new_watcher_picks_up_a_deployment_mid_follow(bot: Bot) -> None:
    # Healthy comes PROGRESSING_SECONDS after the sync, within this settle time: it needs
    # a streak of the settle time, which the database keeps across the restart.
    settle = PROGRESSING_SECONDS + 5
    deployment = bot.deploy("prod", "v2")
    first = bot.watcher(settle_seconds=settle)
    bot.run(first, lambda: bot.get(deployment).details.get("first_healthy_at") is not None)
    assert bot.get(deployment).state == "syncing"
    del first  # the process ends; only the database remains
    bot.advance(settle - 2)  # down for most of the settle time

    second = bot.watcher(settle_seconds=settle)
    passes = bot.run(second, until_state(bot, deployment, "succeeded", "failed", "timed_out"))
    assert bot.get(deployment).state == "succeeded"
    assert passes <= 3  # the Healthy streak carried over instead of starting again


def test_sqlite_has_one_process_so_its_watcher_always_leads(sqlite_store: Store) -> None:
    one, two = Leadership(sqlite_store), Leadership(sqlite_store)
    assert one.acquire() and two.acquire()


@pytest.mark.postgres
def test_on_postgres_only_one_replica_leads_until_it_stops(postgres_url: str) -> None:
    stores = [Store.open(postgres_url), Store.open(postgres_url)]
    first, second = (Leadership(store) for store in stores)
    try:
        assert first.acquire()
        assert not second.acquire()
        assert first.acquire()  # re-tried every pass: still the leader
        assert not second.acquire()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()
        for store in stores:
            store.dispose()


@pytest.mark.postgres
def test_a_leader_whose_connection_died_loses_the_lock_to_another(postgres_url: str) -> None:
    stores = [Store.open(postgres_url), Store.open(postgres_url)]
    first, second = (Leadership(store) for store in stores)
    try:
        assert first.acquire()
        assert first._connection is not None
        pid = first._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with stores[1].engine.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})")
            admin.commit()
        # The server releases the lock when the terminated backend has exited, which
        # pg_terminate_backend only signals: wait for it, within a bound.
        deadline = time.monotonic() + 10
        while not second.acquire():
            assert time.monotonic() < deadline, "the dead leader's lock was never released"
            time.sleep(0.05)
        assert not first.acquire()
    finally:
        first.release()
        second.release()
        for store in stores:
            store.dispose()
