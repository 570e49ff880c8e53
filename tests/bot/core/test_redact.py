"""Redaction of echoed text: secrets by pattern, the values the bot knows exactly, and the
failure comment that quotes a pod's log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.argo import KubeEvent, LogLine, TreeNode
from bot.core.follow import Failed, FailureReason
from bot.core.messages import Progress, progress_comment, redact
from bot.core.plans import State
from bot.core.secrets import KNOWN_SECRETS, MASK, KnownSecrets
from bot.watch.failure import gather_failure

PEM_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
PEM_BODY = [line for line in PEM_KEY.splitlines() if line and not line.startswith("-----")]
TOKEN = "argo-" + secrets.token_urlsafe(24)
VALUE = "Zq9" + secrets.token_hex(10)

# (log line, the secret in it): each line must come out without its secret.
LEAKS = [
    (PEM_BODY[0], PEM_BODY[0]),
    (PEM_BODY[5], PEM_BODY[5]),
    (f"  {PEM_BODY[9]}", PEM_BODY[9]),
    (f"key material: {PEM_BODY[3]} (read from file)", PEM_BODY[3]),
    (f"argocd auth: {TOKEN}", TOKEN),
    (f"ARGOCD_AUTH={TOKEN}", TOKEN),
    (f"WEBHOOK={VALUE}", VALUE),
    (f"webhook_secret: {VALUE}", VALUE),
    (f"password {VALUE}", VALUE),
    (f"Password is {VALUE}", VALUE),
    (f"db password {VALUE} rejected", VALUE),
    (f"api key: {VALUE}", VALUE),
    (f"API key {VALUE}", VALUE),
    (f"api-key={VALUE}", VALUE),
    (f"secret {VALUE}", VALUE),
    (f"client_secret = '{VALUE}'", VALUE),
    (f"credentials: {VALUE}", VALUE),
    (f"private key {VALUE}", VALUE),
    (f'{{"access_key": "{VALUE}"}}', VALUE),
    (f"x-auth: {VALUE}", VALUE),
]


# The values are random per run, so the test ids (which xdist workers compare) are not.
LEAK_IDS = [
    "pem-line",
    "pem-line-2",
    "indented-pem-line",
    "pem-line-in-text",
    "argocd-auth-colon",
    "auth-env",
    "webhook-env",
    "webhook-secret-colon",
    "password-space",
    "password-is",
    "password-in-sentence",
    "api-key-colon",
    "api-key-space",
    "api-key-equals",
    "secret-space",
    "client-secret-quoted",
    "credentials-colon",
    "private-key-space",
    "access-key-json",
    "auth-header",
]


@pytest.mark.parametrize(("line", "secret"), LEAKS, ids=LEAK_IDS)
def test_secret_forms_are_masked(line: str, secret: str) -> None:
    masked = redact(line, KnownSecrets())
    assert secret not in masked
    assert "[redacted" in masked


KEPT = [
    'FATAL: password authentication failed for user "shop"',
    "password must be at least 12 characters",
    'secret "shop-db" not found',
    "MountVolume.SetUp failed for volume \"creds\" : secret 'shop-db' not found",
    "author: alice",
    "webhooks: 3 delivered",
    "pulling ghcr.io/acme/shop@sha256:" + "4b825dc642cb6eb9a060e54bf8d69288fbee4904" * 2,
    "/var/lib/kubelet/pods/abcdefghijklmnopqrstuvwxyz/volumes/kubernetes/serviceaccount/token",
    "GET /api/v1/namespaces/shop/pods/shop-7d9c/log?container=app 200",
    "Back-off restarting failed container",
]


@pytest.mark.parametrize("line", KEPT)
def test_ordinary_lines_are_kept(line: str) -> None:
    assert redact(line, KnownSecrets()) == line


def test_known_values_are_masked_where_no_pattern_would_see_them() -> None:
    known = KnownSecrets()
    known.add("correct horse battery staple")
    known.add(PEM_KEY)
    line = f"connecting with correct horse battery staple; tail {PEM_BODY[-1]}"
    assert redact(line, known) == f"connecting with {MASK}; tail {MASK}"
    assert redact(PEM_KEY, known) == MASK


def test_redact_is_idempotent_on_the_new_forms() -> None:
    known = KnownSecrets()
    known.add(VALUE)
    for line, _ in LEAKS:
        once = redact(line, known)
        assert redact(once, known) == once


CANARY = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=8, max_size=40
).filter(lambda value: len(value.strip()) >= 8)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=200), canary=CANARY, at=st.integers(min_value=0), times=st.integers(1, 3)
)
def test_a_registered_canary_never_survives(text: str, canary: str, at: int, times: int) -> None:
    known = KnownSecrets()
    known.add(canary)
    position = at % (len(text) + 1)
    dirty = text[:position] + canary * times + text[position:]
    assert canary not in redact(dirty, known)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=60),
    suffix=st.text(max_size=60),
    canary=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=8,
        max_size=24,
    ),
)
def test_a_canary_in_a_secret_form_never_survives(prefix: str, suffix: str, canary: str) -> None:
    known = KnownSecrets()
    known.add(canary)
    for form in ("WEBHOOK={}", "argocd auth: {}", "password {}", "api key: {}"):
        dirty = prefix + form.format(canary) + suffix
        assert canary not in redact(dirty, known)


def _failed_pod_logs(lines: list[str]) -> object:
    pod = TreeNode("Pod", "shop-7d9c", "shop", "uid-1", "Degraded", f"password {VALUE}")

    class Argo:
        def resource_tree(self, application: str) -> tuple[TreeNode, ...]:
            return (pod,)

        def events(self, application: str, **_: str) -> tuple[KubeEvent, ...]:
            return (KubeEvent("Warning", "Failed", f"WEBHOOK={VALUE}", "Pod/shop-7d9c", 1, None),)

        def pod_logs(self, application: str, name: str, **_: object) -> tuple[LogLine, ...]:
            at = datetime(2026, 1, 1, tzinfo=UTC)
            return tuple(LogLine(name, line, at) for line in lines)

    return Argo()


def test_a_failure_comment_quotes_the_pod_log_without_its_secrets() -> None:
    known_token = "ghs_" + secrets.token_hex(18)
    webhook_secret = "wh-" + secrets.token_urlsafe(20)
    KNOWN_SECRETS.add(known_token, ephemeral=True)
    KNOWN_SECRETS.add(webhook_secret)
    lines = [
        "starting shop",
        *PEM_BODY[:4],
        f"argocd auth: {TOKEN}",
        f"WEBHOOK={VALUE}",
        f"password {VALUE}",
        f"api key: {VALUE}",
        f"echo {webhook_secret} done",
        f"clone with {known_token}",
        "Error: cannot connect to database",
    ]
    verdict = Failed(FailureReason.DEGRADED, (f"probe failed: token {TOKEN}",))
    failure = gather_failure(_failed_pod_logs(lines), "shop-prod", verdict)
    text = progress_comment(Progress("c1", "/deploy prod", "alice", State.FAILED, failure=failure))
    for secret in (*PEM_BODY[:4], TOKEN, VALUE, webhook_secret, known_token):
        assert secret not in text
    # The failure's parts are redacted as gathered: the reason also goes to the database.
    for part in (failure.reason, *failure.unhealthy, *failure.events, *failure.log_tail):
        assert TOKEN not in part and VALUE not in part
    assert "starting shop" in text and "Error: cannot connect to database" in text


def test_a_failure_without_a_pod_is_redacted_too() -> None:
    class Argo:
        def resource_tree(self, application: str) -> tuple[TreeNode, ...]:
            return ()

    verdict = Failed(FailureReason.CONDITION, ("apply failed", f"Secret/x: password {VALUE}"))
    failure = gather_failure(Argo(), "shop-prod", verdict)
    assert failure.reason == "Argo CD cannot apply the change: apply failed"
    assert failure.unhealthy and VALUE not in " ".join(failure.unhealthy)
