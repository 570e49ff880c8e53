"""The one GitHub App the sandbox hosts: its key pair, webhook secret, and JWT checks.

JWT verification follows GitHub's rules: RS256 signed with the App's private key, ``iss`` is
the App id, ``exp`` at most 10 minutes after ``iat``, 60 seconds of clock skew tolerated.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MAX_JWT_LIFETIME = 600
CLOCK_SKEW = 60


class JWTRejected(Exception):
    """A JWT GitHub would refuse; the message is GitHub's wording where known."""


@dataclass(frozen=True)
class AppIdentity:
    """The App's public facts plus its private key (PEM) and webhook secret."""

    app_id: int
    slug: str
    name: str
    client_id: str
    private_key_pem: str
    webhook_secret: str

    @property
    def public_key_pem(self) -> str:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, never briefly world-readable."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def load_or_create_key(path: Path) -> str:
    if path.exists():
        return path.read_text()
    pem = generate_private_key_pem()
    write_secret_file(path, pem)
    return pem


def new_webhook_secret() -> str:
    return secrets.token_hex(20)


def verify_app_jwt(token: str, public_key_pem: str, app_id: int, now: float) -> None:
    """Raise JWTRejected unless ``token`` is a JWT GitHub would accept for this App at ``now``."""
    try:
        claims = jwt.decode(
            token,
            public_key_pem,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise JWTRejected("A JSON web token could not be decoded") from exc
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or iat > now + CLOCK_SKEW:
        raise JWTRejected(
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued."
        )
    if not isinstance(exp, int | float) or exp <= now - CLOCK_SKEW:
        raise JWTRejected(
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires."
        )
    if exp - iat > MAX_JWT_LIFETIME or exp > now + MAX_JWT_LIFETIME + CLOCK_SKEW:
        raise JWTRejected("'Expiration time' claim ('exp') is too far in the future.")
    if str(claims.get("iss")) != str(app_id):
        raise JWTRejected("'Issuer' claim ('iss') must be an Integer")
