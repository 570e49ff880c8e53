"""The bot's configuration, read once from ``AUTOSTACK_*`` environment variables.

Construct ``Settings()`` at start-up and pass it along; nothing here reads the environment
at import time. Secrets are ``SecretStr`` so that ``repr`` and logs show ``**********``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

ENV_PREFIX = "AUTOSTACK_"


class ConfigError(Exception):
    """The configuration cannot serve; the message names every variable to set."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "autostack serve cannot start: " + "; ".join(problems) + ". "
            "Set them in the environment (or pass the matching command-line options)."
        )


class Settings(BaseSettings):
    """Every ``AUTOSTACK_*`` variable of the design; see DESIGN.md "Configuration"."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    github_api_url: str = "https://api.github.com"
    github_url: str = "https://github.com"
    github_app_id: int | None = None
    github_private_key: SecretStr | None = None
    github_private_key_file: Path | None = None
    webhook_secret: SecretStr | None = None
    gitops_repo: str | None = None
    argocd_url: str | None = None
    argocd_token: SecretStr | None = None
    argocd_insecure: bool = False
    argocd_ca_file: Path | None = None
    # May embed a password, so it is a secret too; ``database_url_for_display`` masks only that.
    database_url: SecretStr = SecretStr("")
    data_dir: Path = Path(".autostack")
    public_url: str = "http://localhost:8000"
    # Operational knobs beyond the design's table; defaults suit one replica.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # ``json``: one JSON object per line, for log pipelines; ``text`` for a terminal.
    log_format: Literal["json", "text"] = "text"
    workers: int = Field(default=2, ge=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_lease_seconds: float = Field(default=300.0, gt=0)
    # How often the watcher asks Argo CD (the watch stream wakes it sooner), and how long an
    # app must stay Healthy after a sync before the deployment counts as succeeded.
    watch_interval_seconds: float = Field(default=2.0, gt=0)
    health_settle_seconds: float = Field(default=5.0, ge=0)
    # Backoff between a delivery's attempts: exponential from the base, capped (GitHub's
    # Retry-After and rate-limit reset are honoured beyond the cap).
    delivery_retry_base_seconds: float = Field(default=2.0, gt=0)
    delivery_retry_cap_seconds: float = Field(default=900.0, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        """Absolute from the start: git and other child processes run in other folders
        (the default ``./.autostack`` named a git helper no clone could find)."""
        return value.expanduser().absolute()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _default_database_url(self) -> Settings:
        if not self.database_url.get_secret_value():
            default = f"sqlite:///{self.data_dir.resolve() / 'autostack.db'}"
            self.database_url = SecretStr(default)
        return self

    @property
    def database_url_for_display(self) -> str:
        url = make_url(self.database_url.get_secret_value())
        return url.render_as_string(hide_password=True)

    def private_key(self) -> SecretStr | None:
        """The App's PEM key, inline or read from ``..._PRIVATE_KEY_FILE``."""
        if self.github_private_key is not None:
            return self.github_private_key
        if self.github_private_key_file is not None:
            return SecretStr(self.github_private_key_file.read_text())
        return None

    def require_for_serve(self) -> None:
        """Raise ``ConfigError`` listing everything ``serve`` lacks, by variable name."""
        problems = []
        if self.github_app_id is None:
            problems.append(f"{ENV_PREFIX}GITHUB_APP_ID is not set")
        problems += self._private_key_problems()
        if self.webhook_secret is None or not self.webhook_secret.get_secret_value():
            problems.append(f"{ENV_PREFIX}WEBHOOK_SECRET is not set")
        if not self.gitops_repo:
            problems.append(f"{ENV_PREFIX}GITOPS_REPO is not set")
        elif self.gitops_repo.count("/") != 1:
            problems.append(f"{ENV_PREFIX}GITOPS_REPO must be owner/name")
        if problems:
            raise ConfigError(problems)

    def _private_key_problems(self) -> list[str]:
        inline, path = self.github_private_key, self.github_private_key_file
        key, key_file = f"{ENV_PREFIX}GITHUB_PRIVATE_KEY", f"{ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE"
        if inline is None and path is None:
            return [f"{key} or {key_file} is not set"]
        if inline is not None and path is not None:
            return [f"set only one of {key} and {key_file}"]
        if path is not None and not path.is_file():
            return [f"{key_file} names no readable file ({path})"]
        return []
