"""Signature checks: the accept/reject matrix of X-Hub-Signature-256."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.core.signatures import SignatureError, sign, verify_signature

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# The example from GitHub's "Validating webhook deliveries" documentation.
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_matches_githubs_documented_example() -> None:
    assert sign(BODY, SECRET) == GITHUB_EXAMPLE
    verify_signature(BODY, GITHUB_EXAMPLE, SECRET)


def test_accepts_upper_case_hex_and_surrounding_space() -> None:
    header = "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest().upper()
    verify_signature(BODY, f"  {header} ", SECRET)


@pytest.mark.parametrize(
    ("body", "header", "secret", "reason"),
    [
        (BODY, None, SECRET, "missing"),
        (BODY, "", SECRET, "missing"),
        (BODY, "sha1=" + "0" * 40, SECRET, "malformed"),
        (BODY, "sha256=" + "g" * 64, SECRET, "malformed"),
        (BODY, "sha256=" + "ab" * 31, SECRET, "malformed"),
        (BODY, "sha256=é" + "a" * 63, SECRET, "malformed"),
        (BODY, sign(BODY, b"another secret"), SECRET, "does not match"),
        (BODY + b" ", GITHUB_EXAMPLE, SECRET, "does not match"),
        (b"Hello, world!", GITHUB_EXAMPLE, SECRET, "does not match"),
        (BODY, GITHUB_EXAMPLE, b"", "not configured"),
    ],
    ids=[
        "missing",
        "empty",
        "sha1",
        "not-hex",
        "short",
        "non-ascii",
        "wrong-secret",
        "body-appended",
        "body-tampered",
        "no-secret-configured",
    ],
)
def test_rejects(body: bytes, header: str | None, secret: bytes, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_signature(body, header, secret)
