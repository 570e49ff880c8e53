"""Register the GitHub App in one click, as Probot does: ``serve`` without credentials
serves ``/setup``, which posts ``app.yml`` to GitHub, and ``/setup/callback``, which turns
GitHub's one-time code into the App's credentials and stores them owner-only.

``with_stored_credentials`` lets ``serve`` pick the stored credentials up afterwards; the
setup routes then no longer exist, and the web part lives in :mod:`bot.setup_web`.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.settings import ConfigError, Settings

CREDENTIALS_DIR = "secrets"  # under the data dir; 0700, created by us so we own it
CREDENTIALS_FILE = "app-credentials.json"  # 0600


@dataclass(frozen=True)
class AppCredentials:
    """What the manifest conversion hands back once and ``serve`` needs; no OAuth secret,
    because AutoStack never acts as a user. Secrets stay out of ``repr``."""

    app_id: int
    slug: str
    html_url: str
    owner: str
    client_id: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)

    @classmethod
    def from_conversion(cls, body: dict[str, Any]) -> AppCredentials:
        """Parse GitHub's conversion answer; ``ValueError`` names a missing field only."""
        owner = body.get("owner") if isinstance(body.get("owner"), dict) else {}
        values = {
            "app_id": body.get("id"),
            "slug": body.get("slug"),
            "html_url": body.get("html_url"),
            "owner": (owner or {}).get("login", ""),
            "client_id": body.get("client_id", ""),
            "pem": body.get("pem"),
            "webhook_secret": body.get("webhook_secret"),
        }
        return cls.from_mapping(values, "GitHub's answer")

    @classmethod
    def from_mapping(cls, values: dict[str, Any], where: str) -> AppCredentials:
        if not isinstance(values.get("app_id"), int) or isinstance(values.get("app_id"), bool):
            raise ValueError(f"{where}: the App id is missing")
        for key in ("slug", "html_url", "pem", "webhook_secret"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise ValueError(f"{where}: {key} is missing")
        if "PRIVATE KEY" not in values["pem"]:
            raise ValueError(f"{where}: pem is not a PEM private key")
        return cls(
            app_id=values["app_id"],
            slug=values["slug"],
            html_url=values["html_url"].rstrip("/"),
            owner=str(values.get("owner") or ""),
            client_id=str(values.get("client_id") or ""),
            pem=values["pem"],
            webhook_secret=values["webhook_secret"],
        )

    @property
    def install_url(self) -> str:
        """Where GitHub lets a person install the App on repositories."""
        return f"{self.html_url}/installations/new"


def credentials_path(data_dir: Path) -> Path:
    return data_dir / CREDENTIALS_DIR / CREDENTIALS_FILE


def save_credentials(data_dir: Path, credentials: AppCredentials) -> Path:
    """Write the credentials atomically: directory 0700, file 0600, never world-readable
    even for an instant (the temporary file is created 0600 in the same directory)."""
    folder = data_dir / CREDENTIALS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask; an old folder may be wider
    target = folder / CREDENTIALS_FILE
    text = json.dumps(asdict(credentials), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".app-credentials-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return target


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_credentials(data_dir: Path) -> AppCredentials | None:
    """The stored credentials, None when there are none; ``ConfigError`` when the file is
    unreadable, malformed, or readable by others (like ssh, refuse a key anyone can read)."""
    path = credentials_path(data_dir)
    if not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError([f"{path} is readable by others (mode {mode:o}); chmod 600 {path}"])
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(values, dict):
            raise ValueError(f"{path}: not a JSON object")
        return AppCredentials.from_mapping(values, str(path))
    except (OSError, ValueError) as exc:
        # ValueError messages name the field, never its value.
        raise ConfigError([f"cannot use the stored App credentials: {exc}"]) from None


def _app_configured(settings: Settings) -> bool:
    """Whether the environment names any of the App's credentials."""
    return (
        settings.github_app_id is not None
        or settings.github_private_key is not None
        or settings.github_private_key_file is not None
        or settings.webhook_secret is not None
    )


def with_stored_credentials(settings: Settings) -> Settings:
    """``settings`` with the stored App id, key and webhook secret when the environment
    sets none of them. Never a mix: an id from one App and a key from another would fail
    later with a signature error that names neither."""
    if _app_configured(settings):
        return settings
    credentials = load_credentials(settings.data_dir)
    if credentials is None:
        return settings
    return settings.model_copy(
        update={
            "github_app_id": credentials.app_id,
            "github_private_key": SecretStr(credentials.pem),
            "webhook_secret": SecretStr(credentials.webhook_secret),
        }
    )


def needs_setup(settings: Settings) -> bool:
    """Setup mode: neither the environment nor the data dir holds any App credential.
    A partial configuration is an operator's mistake, which ``require_for_serve`` reports."""
    return not _app_configured(settings) and not credentials_path(settings.data_dir).exists()
