"""Migrations build exactly the schema the models describe, and re-running them is safe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from bot.store import MIGRATIONS_DIR, Base, Store, make_engine, normalize_url


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert version == ScriptDirectory.from_config(config).get_current_head()


def test_migrate_twice_is_a_no_op_and_creates_the_data_dir(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "dir" / "autostack.db"
    store = Store.open(f"sqlite:///{database}")
    store.migrate()
    store.migrate()
    tables = set(inspect(store.engine).get_table_names())
    assert {"deliveries", "audit_log", "locks", "lock_waiters", "alembic_version"} <= tables
    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert (mode, timeout) == ("wal", 30000)
    store.dispose()


def test_bare_postgres_urls_use_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    assert make_engine("postgresql://u@h/db").dialect.driver == "psycopg"
