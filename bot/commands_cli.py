"""The ``autostack serve``, ``deliveries`` and ``audit`` commands as plain functions.

Each prints for a person and returns the process exit code (0 ok, 1 failure found,
2 usage or configuration error); ``bot/cli.py`` maps options onto them.
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from bot import cli_output, setup_flow, setup_web, startup, webhook
from bot.adapters.clock import SystemClock
from bot.audit import AuditLog
from bot.logs import configure_logging
from bot.queue import DeliveryQueue
from bot.settings import ConfigError, Settings
from bot.store import Store
from bot.wiring import build_app


def serve(settings: Settings, host: str, port: int, *, setup: bool = False) -> int:
    """Run the bot until interrupted; refuse to start, in one line that says what to fix,
    when configuration is missing or wrong, the port is taken or the database is down.

    With ``setup`` and no App credentials at all, it serves the setup flow first (only
    the public URL is needed to register the App), then goes on with what it stored.
    """
    # The bot's own log lines (refused webhooks, failed deliveries) and uvicorn's, alike.
    configure_logging(settings.log_level, settings.log_format)
    listener: socket.socket | None = None
    try:
        listener = startup.bind(host, port)
        configured = setup_flow.with_stored_credentials(settings)
        if setup and setup_flow.needs_setup(configured):
            listener.close()  # the setup flow's own server listens there until it is done
            if not setup_web.serve_setup(configured, host, port):
                return 0
            # The setup flow's server installed uvicorn's own log handlers: take them back.
            configure_logging(settings.log_level, settings.log_format)
            configured = setup_flow.with_stored_credentials(configured)
            listener = startup.bind(host, port)
        configured.require_for_serve()
        stored = configured is not settings  # the key is the setup flow's, not a variable's
        startup.check_private_key(
            configured, stored_in=setup_flow.credentials_path(settings.data_dir) if stored else None
        )
        startup.check_database(configured)
        app = build_app(configured)
    except (ConfigError, startup.StartupProblem) as exc:
        if listener is not None:
            listener.close()
        problem = (
            str(exc) if isinstance(exc, ConfigError) else f"autostack serve cannot start: {exc}"
        )
        print(problem, file=sys.stderr)
        return 2
    # log_config=None: uvicorn's lines go through the handler configured above. The socket
    # is bound already, so uvicorn does not log where it listens: this line does.
    # server_limits: what slow or hostile clients may hold (header and body deadlines,
    # connections at once) is bounded before anything reads a request.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=configured.log_level.lower(),
        log_config=None,
        **webhook.server_limits(),
    )
    logging.getLogger(__name__).info("listening on http://%s:%d", host, listener.getsockname()[1])
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def _open(settings: Settings) -> Store:
    store = Store.open(settings.database_url.get_secret_value())
    store.migrate()
    return store


def deliveries(settings: Settings, failed: bool, output: str = "text") -> int:
    """List recent deliveries (only those awaiting retry or dead with ``failed``); ``output``
    ``json`` prints them as one JSON array instead of a table."""
    store = _open(settings)
    try:
        # Payloads are not decoded here: a row whose payload never decodes is listed too.
        rows = DeliveryQueue(store).list(failed_only=failed)
    except (SQLAlchemyError, ValueError) as exc:
        print(f"cannot read the deliveries: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    if output == "json":
        print(cli_output.deliveries_json(rows))
        return 0
    if not rows:
        print("no failed deliveries" if failed else "no deliveries")
        return 0

    def shown(text: str) -> str:
        # Stored text comes from senders: control characters (a terminal's escape sequences)
        # and lone surrogates (which stdout cannot encode) are printed escaped.
        if text.isprintable():
            return text
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)

    print(f"{'DELIVERY':38} {'EVENT':28} {'STATE':7} {'TRIES':>5}  RECEIVED / LAST ERROR")
    for row in rows:
        event = shown(f"{row.event}.{row.action}" if row.action else row.event)
        received = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{shown(row.delivery_id):38} {event:28} {shown(row.state):7} {row.attempts:>5}  "
            f"{received}"
        )
        if first_line := (row.last_error or "").strip().splitlines()[:1]:
            print(f"{'':38} {shown(first_line[0][:160])}")
    return 0


def retry_delivery(settings: Settings, delivery_id: str) -> int:
    """Queue a failed or dead delivery again."""
    store = _open(settings)
    try:
        result = DeliveryQueue(store).retry(delivery_id, SystemClock().now())
    finally:
        store.dispose()
    if result == "requeued":
        print(f"delivery {delivery_id} queued again")
        return 0
    if result == "not_found":
        print(f"no delivery {delivery_id} (see: autostack deliveries)", file=sys.stderr)
    else:
        print(f"delivery {delivery_id} is neither failed nor dead; not retried", file=sys.stderr)
    return 2


def audit(
    settings: Settings, app: str | None, env: str | None, verify: bool, output: str = "text"
) -> int:
    """Print the audit log (oldest first), or check its hash chain, seals and this data
    dir's checkpoint with ``verify``; ``output`` ``json`` prints one JSON document instead.

    Verifying needs the webhook secret the bot runs with (the seals' key is derived from
    it), from the environment or stored by the setup flow; without it the chain is checked
    but reported unanchored, with exit code 2."""
    # The key may have come from the setup flow, as it does for ``serve``.
    settings = setup_flow.with_stored_credentials(settings)
    store = _open(settings)
    try:
        log = AuditLog.from_settings(store, settings)
        if verify:
            return _verify(log, output)
        entries = log.entries(app=app, env=env)
    finally:
        store.dispose()
    if output == "json":
        print(cli_output.audit_json(entries))
        return 0
    if not entries:
        print("no audit entries")
    for entry in entries:
        where = "/".join(part for part in (entry.app, entry.env) if part) or "-"
        at = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{entry.id:>6} {at} {entry.kind:8} {where:24} {entry.actor:20} {entry.summary}")
    return 0


def _verify(log: AuditLog, output: str = "text") -> int:
    """One line of verdict, then what it rests on. Exit code 1 when something failed, 2 when
    no key was at hand to check the seals with (the chain is unanchored), else 0."""
    verdict = log.verify()
    code = 1 if not verdict.intact else 0 if verdict.keyed else 2
    if output == "json":
        print(cli_output.verify_json(verdict.intact, verdict.first_bad))
        return code
    count = f"{verdict.entries} entr{'y' if verdict.entries == 1 else 'ies'}"
    if not verdict.intact:
        where = f" at entry {verdict.first_bad}" if verdict.first_bad is not None else ""
        print(f"audit log chain broken{where}: {verdict.problem}")
    elif verdict.anchored:
        print(f"audit log chain intact: {count}, sealed through entry {verdict.sealed_through}")
        if verdict.unsealed_before:
            print(
                f"  the {verdict.unsealed_before} oldest predate the seals (written before "
                "sealing began, or under an earlier webhook secret): the first seal after "
                "them vouches for them"
            )
    elif not verdict.keyed:
        print(
            f"audit log hash chain intact ({count}), but unanchored: AUTOSTACK_WEBHOOK_SECRET "
            "is not set, so the seals cannot be checked, and entries rewritten with their "
            "hashes recomputed would pass"
        )
    else:
        print(
            f"audit log hash chain intact ({count}), but unanchored: no entry is sealed yet "
            "(written before sealing began, or without the webhook secret); the next entry "
            "the bot records seals them"
        )
    if verdict.intact and verdict.checkpoint is not None:
        print(f"  this data dir's checkpoint, entry {verdict.checkpoint}, is in place")
    elif verdict.intact and verdict.entries:
        print(
            "  this data dir holds no checkpoint of this log, so deleted newest entries "
            "would not show here: verify where the bot runs"
        )
    return code
