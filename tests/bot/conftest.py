"""Fixtures for the bot's tests: a migrated store on SQLite and on the local PostgreSQL.

PostgreSQL tests get a database of their own per test run (per xdist worker), created on
127.0.0.1:5432 and dropped at the end; each test starts from empty tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from bot.adapters.clock import FakeClock
from bot.core.events import Event
from bot.router import HandlerContext, Router
from bot.settings import Settings
from bot.store import Base, Store

PG_HOST = "127.0.0.1"
PG_USERS = ("postgres", "root")
SECRET = "s3cr3t-webhook-value-for-tests"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key-0xC0FFEE\n-----END PRIVATE KEY-----"


def _pong(event: Event, ctx: HandlerContext) -> None:
    """Handles GitHub's ``ping``: enough for ``create_app``, which refuses an empty router."""


PING_ONLY = Router()
PING_ONLY.add(_pong, "ping")
"""For ingest tests: every other event is stored, taken by a worker and counted unhandled."""
# Every table of the models, children first, so each test starts from empty tables.
TABLES = tuple(reversed([table.name for table in Base.metadata.sorted_tables]))


def _admin_connection() -> tuple[psycopg.Connection[Any], str]:
    errors = []
    for user in PG_USERS:
        try:
            conn = psycopg.connect(host=PG_HOST, user=user, dbname="test", autocommit=True)
            return conn, user
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {exc}")
    raise RuntimeError("PostgreSQL on 127.0.0.1:5432 is needed: " + "; ".join(errors))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database for this test run; dropped afterwards."""
    admin, user = _admin_connection()
    name = f"autostack_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{user}@{PG_HOST}:5432/{name}"
    try:
        store = Store.open(url)
        store.migrate()
        store.dispose()
        yield url
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _empty_postgres(url: str) -> Store:
    store = Store.open(url)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each database the bot supports."""
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
        store.migrate()
    else:
        store = _empty_postgres(request.getfixturevalue("postgres_url"))
    yield store
    store.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _no_autostack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in tests come from arguments only, never from the developer's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("AUTOSTACK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        github_app_id=1234,
        github_private_key=SecretStr(PRIVATE_KEY),
        webhook_secret=SecretStr(SECRET),
        gitops_repo="acme/gitops",
        data_dir=tmp_path / "data",
        workers=0,
    )
