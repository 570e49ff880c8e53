"""What ``autostack serve`` checks before it starts anything: the port, the App's private
key and the database. Each problem is one line that says what to fix (``StartupProblem``),
never a traceback; ``autostack doctor`` runs the key and database checks too.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.settings import ENV_PREFIX, Settings
from bot.store import make_engine, normalize_url

DATABASE_TIMEOUT_SECONDS = 5


class StartupProblem(Exception):
    """One thing that keeps ``serve`` from starting, with how to fix it, on one line."""


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now rather than after the app has started (uvicorn binds
    only once its lifespan ran, and reports a busy port with a traceback)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may bind while the old connections are in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupProblem(_bind_problem(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is already in use on {host} (another autostack serve, or another "
            f"server); stop it, or choose a free port with --port"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where}; use a port above 1023, e.g. --port 8000"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return (
            f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine "
            f"only) or 0.0.0.0 (every interface)"
        )
    return f"cannot listen on {where}: {exc.strerror or exc}; choose another --host or --port"


def check_private_key(settings: Settings, *, stored_in: Path | None = None) -> None:
    """The App's key must be a readable, unencrypted PEM RSA private key, as GitHub issues.

    ``stored_in``: the key came from the setup flow's credentials file, not a variable."""
    if stored_in is not None:
        source = f"the private key stored in {stored_in}"
        fix = "register the App again (remove that file and open /setup) or set the variables"
    elif settings.github_private_key_file is not None:
        source = f"{ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE"
        fix = "point it at the .pem file downloaded from the GitHub App's settings page"
    else:
        source = f"{ENV_PREFIX}GITHUB_PRIVATE_KEY"
        fix = "set it to the whole .pem file from the GitHub App's settings page, BEGIN to END"
    try:
        secret = settings.private_key()
    except UnicodeDecodeError:
        raise StartupProblem(f"{source} is not a PEM private key (not text); {fix}") from None
    except OSError as exc:
        path = settings.github_private_key_file
        raise StartupProblem(
            f"{source}: cannot read {path} ({exc.strerror or exc}); make it readable by "
            f"user {os.getuid()}, which runs autostack"
        ) from None
    if secret is None:
        return  # Settings.require_for_serve names the missing variables
    raise_for_key(secret.get_secret_value(), source, fix)


def raise_for_key(pem: str, source: str, fix: str) -> None:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise StartupProblem(
            f"{source} is encrypted with a passphrase; GitHub's App keys are not: decrypt "
            f"it (openssl pkey -in KEY.pem -out PLAIN.pem) or {fix}"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise StartupProblem(f"{source} is not a PEM private key; {fix}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise StartupProblem(
            f"{source} is not an RSA key (GitHub Apps sign with RSA); {fix}"
        ) from None


def check_database(settings: Settings, *, timeout: int = DATABASE_TIMEOUT_SECONDS) -> None:
    """The database takes a connection and answers a query within ``timeout`` seconds."""
    shown = _display(settings)
    try:
        url = _with_connect_timeout(settings.database_url.get_secret_value(), timeout)
        engine = make_engine(url)
    except (ArgumentError, ValueError):
        raise StartupProblem(
            f"{ENV_PREFIX}DATABASE_URL is not a database URL; use postgresql+psycopg://USER:"
            f"PASSWORD@HOST:5432/NAME, or leave it unset for SQLite in the data dir"
        ) from None
    except OSError as exc:
        raise StartupProblem(
            f"cannot create the folder of the SQLite database {shown} ({exc.strerror or exc}); "
            f"set {ENV_PREFIX}DATA_DIR (or {ENV_PREFIX}DATABASE_URL) to a place this user can write"
        ) from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StartupProblem(
            f"cannot use the database {shown} ({database_reason(exc)}); check "
            f"{ENV_PREFIX}DATABASE_URL and that the server runs and is reachable from here"
        ) from None
    finally:
        engine.dispose()


def database_reason(exc: SQLAlchemyError) -> str:
    """The driver's own first line (e.g. psycopg's 'Connection refused'), without SQL."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    reason = lines[0] if lines else type(original).__name__
    # psycopg: 'connection failed: connection to server at "h" (a), port p failed: why'
    return reason.rsplit(" failed: ", 1)[-1][:200]


def _display(settings: Settings) -> str:
    try:
        return settings.database_url_for_display
    except (ArgumentError, ValueError):
        return "(unparsable URL)"


def _with_connect_timeout(url: str, timeout: int) -> str:
    """PostgreSQL waits for an unreachable host for minutes unless told otherwise."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    timed = parsed.update_query_dict({"connect_timeout": str(timeout)})
    return timed.render_as_string(hide_password=False)
