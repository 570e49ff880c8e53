"""Alembic environment: runs on the connection that ``bot.store.migrate`` hands over.

Configured programmatically, so no ``alembic.ini`` is needed at run time. To write a new
revision: ``alembic -x url=sqlite:///tmp.db revision --autogenerate`` with an ini that points
``script_location`` here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from bot.store import Base

connection = context.config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///autostack.db")
    with create_engine(url).begin() as fresh:
        _run(fresh)
