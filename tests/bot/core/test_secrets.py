"""The registry of secret values the bot knows exactly, and what fills it."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from bot.adapters.clock import FakeClock
from bot.adapters.github.auth import CachedToken, InstallationTokens
from bot.app import create_app
from bot.core.secrets import KNOWN_SECRETS, MASK, KnownSecrets, register_settings, secret_forms
from bot.settings import Settings
from tests.bot.conftest import PING_ONLY
from tests.bot.core.test_redact import PEM_BODY, PEM_KEY


def test_short_and_empty_values_are_not_registered() -> None:
    known = KnownSecrets()
    for value in ("", None, "   ", "short", "1234567"):
        known.add(value)
    assert len(known) == 0
    assert known.mask("short 1234567 and everything else") == "short 1234567 and everything else"


def test_a_value_is_masked_exactly_wherever_it_appears() -> None:
    known = KnownSecrets()
    known.add("plain-looking-value")
    text = "x=plain-looking-value;plain-looking-value\tend plain-looking-valu"
    assert known.mask(text) == "x=***;***\tend plain-looking-valu"


def test_each_pem_line_and_the_whole_key_are_registered() -> None:
    known = KnownSecrets()
    known.add(PEM_KEY)
    assert PEM_KEY in known
    for line in PEM_BODY:
        assert line in known
    assert "-----BEGIN PRIVATE KEY-----" not in known
    # The short last line of the body leaks on its own too; the pattern cannot know it.
    assert known.mask(f"tail: {PEM_BODY[-1]}") == f"tail: {MASK}"


def test_a_urls_password_is_registered_as_written_and_decoded() -> None:
    forms = secret_forms("postgresql+psycopg://shop:p%40ss-w0rd-x@db:5432/shop")
    assert "p%40ss-w0rd-x" in forms and "p@ss-w0rd-x" in forms


def test_longest_value_wins_where_values_overlap() -> None:
    known = KnownSecrets()
    known.add_all(["abcdefgh", "abcdefghijkl", "bcdefghijk"])
    assert known.mask("<abcdefghijkl>") == "<***>"
    assert known.mask("<abcdefghi>") == "<***i>"


def test_masking_repeats_until_no_value_is_left() -> None:
    # Masking the inner value joins the outer one's halves: one pass would leave it.
    known = KnownSecrets()
    known.add_all(["12345678", "ab***cdefg"])
    assert known.mask("ab12345678cdefg") == MASK


def test_ephemeral_values_are_bounded_and_lasting_ones_are_not() -> None:
    known = KnownSecrets(max_ephemeral=3)
    known.add("lasting-secret-1")
    tokens = [f"ghs_token_number_{n}" for n in range(5)]
    for token in tokens:
        known.add(token, ephemeral=True)
    assert len(known) == 4
    assert "lasting-secret-1" in known
    assert [token in known for token in tokens] == [False, False, True, True, True]
    assert known.mask(f"{tokens[0]} {tokens[4]}") == f"{tokens[0]} {MASK}"


def test_settings_secrets_are_registered(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(PEM_KEY)
    settings = Settings(
        github_app_id=1,
        github_private_key_file=key_file,
        webhook_secret=SecretStr("webhook-secret-value"),
        argocd_token=SecretStr("argocd-token-value"),
        database_url=SecretStr("postgresql://shop:db-password-1@db.internal:5432/shop"),
        data_dir=tmp_path,
    )
    known = KnownSecrets()
    register_settings(settings, known)
    for value in ("webhook-secret-value", "argocd-token-value", "db-password-1", PEM_KEY):
        assert value in known
    for line in PEM_BODY:
        assert line in known
    # The database's host and name stay readable in error messages.
    assert known.mask("cannot reach db.internal:5432/shop") == "cannot reach db.internal:5432/shop"


def test_an_unreadable_key_file_registers_the_rest(tmp_path: Path) -> None:
    settings = Settings(
        github_private_key_file=tmp_path / "missing.pem",
        webhook_secret=SecretStr("webhook-secret-value"),
        data_dir=tmp_path,
    )
    known = KnownSecrets()
    register_settings(settings, known)
    assert "webhook-secret-value" in known


def test_minted_installation_tokens_become_known() -> None:
    clock = FakeClock()
    token = "ghs_" + secrets.token_hex(18)
    tokens = InstallationTokens(
        clock, lambda repo: 7, lambda _id: CachedToken(token, clock.now() + timedelta(hours=1))
    )
    assert tokens.token(7) == token
    assert token in KNOWN_SECRETS


def test_masking_a_long_log_stays_fast() -> None:
    # Timed against the obvious alternation of the same values (which tries each value at
    # each position) rather than the clock alone, so that a busy machine does not fail it.
    known = KnownSecrets()
    values = [secrets.token_urlsafe(24) for _ in range(600)]
    known.add_all(values)
    filler = "level=info msg=request served path=/api/v1/items status=200 took=3ms\n"
    log = filler * (200_000 // len(filler)) + values[123]
    took = min(_timed(lambda: known.mask(log)) for _ in range(3))
    naive = re.compile("|".join(re.escape(value) for value in values))
    naive_took = _timed(lambda: naive.sub(MASK, log))
    masked = known.mask(log)
    assert values[123] not in masked and masked.endswith(MASK)
    assert took < naive_took / 2, f"{took:.3f}s, against {naive_took:.3f}s for an alternation"


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_values_nested_hundreds_deep_still_compile() -> None:
    # Each value a prefix of the next: too deep for a trie regex, so a plain alternation.
    known = KnownSecrets()
    known.add_all("s" * n for n in range(8, 300))
    assert known.mask("<" + "s" * 299 + ">") == f"<{MASK}>"


def test_the_app_registers_its_settings_secrets(settings: Settings) -> None:
    webhook_secret = "wh-" + secrets.token_urlsafe(20)
    argocd_token = "argo-" + secrets.token_urlsafe(20)
    configured = settings.model_copy(
        update={
            "webhook_secret": SecretStr(webhook_secret),
            "argocd_token": SecretStr(argocd_token),
        }
    )
    create_app(configured, router=PING_ONLY)
    assert webhook_secret in KNOWN_SECRETS and argocd_token in KNOWN_SECRETS


class ConsoleSettings(Settings):
    """Settings as the console's variables will extend them (DESIGN.md: Console)."""

    github_client_secret: SecretStr | None = None
    session_secret: SecretStr | None = None


def test_every_secret_setting_is_registered_including_ones_added_later(tmp_path: Path) -> None:
    settings = ConsoleSettings(
        github_client_secret=SecretStr("oauth-client-secret-1"),
        session_secret=SecretStr("session-signing-secret-1"),
        data_dir=tmp_path,
    )
    known = KnownSecrets()
    register_settings(settings, known)
    assert "oauth-client-secret-1" in known and "session-signing-secret-1" in known
