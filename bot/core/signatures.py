"""Webhook signatures: GitHub's ``X-Hub-Signature-256`` HMAC, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class SignatureError(ValueError):
    """The delivery is not proven to come from GitHub; ``str()`` is a reason safe to show."""


def sign(body: bytes, secret: bytes) -> str:
    """The header value GitHub sends for ``body``: ``sha256=<hex hmac>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: bytes) -> None:
    """Raise ``SignatureError`` unless ``header`` is the HMAC-SHA256 of ``body`` under ``secret``.

    An empty secret fails closed: no configured secret means no delivery is trusted.
    """
    if not secret:
        raise SignatureError("webhook secret is not configured")
    if header is None or not header.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header, expected sha256=<64 hex>")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    # compare_digest keeps the comparison time independent of where the digests differ.
    if not hmac.compare_digest(expected, match.group(1).lower()):
        raise SignatureError("signature does not match the body")
