"""Settings: read from AUTOSTACK_* once, refuse to serve when incomplete, never leak secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.settings import ConfigError, Settings
from tests.bot.conftest import PRIVATE_KEY, SECRET


def test_defaults_follow_the_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.github_api_url == "https://api.github.com"
    assert settings.github_url == "https://github.com"
    assert settings.public_url == "http://localhost:8000"
    # ./.autostack, made absolute at once: git runs its helpers from other folders.
    assert settings.data_dir == tmp_path / ".autostack"
    assert (
        settings.database_url.get_secret_value()
        == f"sqlite:///{tmp_path / '.autostack' / 'autostack.db'}"
    )
    assert settings.argocd_insecure is False


def test_reads_every_variable_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "AUTOSTACK_GITHUB_API_URL": "https://ghe.example/api/v3",
        "AUTOSTACK_GITHUB_URL": "https://ghe.example",
        "AUTOSTACK_GITHUB_APP_ID": "42",
        "AUTOSTACK_GITHUB_PRIVATE_KEY": PRIVATE_KEY,
        "AUTOSTACK_WEBHOOK_SECRET": SECRET,
        "AUTOSTACK_GITOPS_REPO": "acme/gitops",
        "AUTOSTACK_ARGOCD_URL": "https://argocd.example",
        "AUTOSTACK_ARGOCD_TOKEN": "argo-token-value",
        "AUTOSTACK_ARGOCD_INSECURE": "true",
        "AUTOSTACK_ARGOCD_CA_FILE": "/etc/ca.pem",
        "AUTOSTACK_DATABASE_URL": "postgresql+psycopg://bot:pw@db/autostack",
        "AUTOSTACK_DATA_DIR": str(tmp_path),
        "AUTOSTACK_PUBLIC_URL": "https://bot.example",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    settings.require_for_serve()
    assert settings.github_api_url == "https://ghe.example/api/v3"
    assert settings.github_app_id == 42
    assert settings.private_key() == SecretStr(PRIVATE_KEY)
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == SECRET
    assert (settings.argocd_insecure, settings.argocd_ca_file) == (True, Path("/etc/ca.pem"))
    assert settings.database_url.get_secret_value() == "postgresql+psycopg://bot:pw@db/autostack"
    assert settings.database_url_for_display == "postgresql+psycopg://bot:***@db/autostack"
    assert (settings.data_dir, settings.public_url) == (tmp_path, "https://bot.example")


def test_serve_refuses_listing_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings().require_for_serve()
    message = str(raised.value)
    for name in (
        "AUTOSTACK_GITHUB_APP_ID",
        "AUTOSTACK_GITHUB_PRIVATE_KEY or AUTOSTACK_GITHUB_PRIVATE_KEY_FILE",
        "AUTOSTACK_WEBHOOK_SECRET",
        "AUTOSTACK_GITOPS_REPO",
    ):
        assert name in message
    assert len(raised.value.problems) == 4


def test_serve_names_the_one_thing_missing(settings: Settings) -> None:
    with pytest.raises(ConfigError) as raised:
        settings.model_copy(update={"webhook_secret": SecretStr("")}).require_for_serve()
    assert raised.value.problems == ["AUTOSTACK_WEBHOOK_SECRET is not set"]
    with pytest.raises(ConfigError, match="owner/name"):
        settings.model_copy(update={"gitops_repo": "gitops"}).require_for_serve()


def test_private_key_from_a_file(tmp_path: Path, settings: Settings) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(PRIVATE_KEY)
    from_file = settings.model_copy(
        update={"github_private_key": None, "github_private_key_file": key_file}
    )
    from_file.require_for_serve()
    assert from_file.private_key() == SecretStr(PRIVATE_KEY)
    missing = from_file.model_copy(update={"github_private_key_file": tmp_path / "nope.pem"})
    with pytest.raises(ConfigError, match="AUTOSTACK_GITHUB_PRIVATE_KEY_FILE names no"):
        missing.require_for_serve()
    both = from_file.model_copy(update={"github_private_key": SecretStr(PRIVATE_KEY)})
    with pytest.raises(ConfigError, match="only one"):
        both.require_for_serve()


def test_secrets_never_show_in_repr_or_logs(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with_db_password = settings.model_copy(
        update={
            "database_url": SecretStr("postgresql+psycopg://bot:db-password-xyz@db/autostack"),
            "argocd_token": SecretStr("argo-token-value"),
        }
    )
    log = logging.getLogger("test.settings")
    with caplog.at_level(logging.DEBUG):
        log.info("settings: %r", with_db_password)
        log.info("settings: %s", with_db_password)
        log.info("dump: %s", with_db_password.model_dump())
        log.info("database: %s", with_db_password.database_url_for_display)
    for secret in (SECRET, "not-a-real-key-0xC0FFEE", "db-password-xyz", "argo-token-value"):
        assert secret not in caplog.text
        assert secret not in repr(with_db_password)
    assert "**********" in caplog.text  # the secrets are there, masked


def test_bad_values_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="github_app_id"):
        Settings(github_app_id="forty-two")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        Settings(workers=-1)
