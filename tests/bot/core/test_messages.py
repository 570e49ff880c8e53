"""The comments the bot posts (golden files) and the redaction of echoed text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.commands import Reply, help_text, parse_comment
from bot.core.messages import (
    EnvRow,
    Failure,
    Progress,
    StatusRow,
    build_failed_comment,
    code_block,
    elapsed,
    find_command_id,
    inline_code,
    marker,
    progress_comment,
    redact,
    refusal_comment,
    reply_comment,
    status_comment,
    table_cell,
)
from bot.core.plans import State

GOLDEN = Path(__file__).parent / "golden"
ENVS = ("dev", "staging", "prod")
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
IMAGE = f"ghcr.io/acme/shop:{SHA}"
GHS = "ghs_" + "16C7e42F292c6912E7710c838347Ae178B4a"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjM0NSJ9.c2lnbmF0dXJlLXBhcnQ"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1\nabc\n-----END RSA PRIVATE KEY-----"
SECRETS = [GHS, JWT, "MIIEpAIBAAKCAQEA1", "hunter2hunter2"]


def progress(state: State, **changes: object) -> Progress:
    base: dict[str, object] = {
        "command_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "command": "/deploy prod",
        "requested_by": "alice",
        "state": state,
        "rows": (EnvRow("prod", IMAGE),),
    }
    return Progress(**{**base, **changes})  # type: ignore[arg-type]


SYNCING_ROW = EnvRow(
    "prod",
    IMAGE,
    "OutOfSync",
    "Progressing",
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
    timedelta(seconds=65),
)
DONE_ROW = EnvRow(
    "prod",
    IMAGE,
    "Synced",
    "Healthy",
    "9fceb02d0ae598e95dc970b74767f19372d61af8",
    timedelta(minutes=2, seconds=3),
)
PR_URL = "https://github.com/acme/gitops/pull/7"

FAILURE = Failure(
    reason="health went Degraded: Deployment/shop has 0/2 ready replicas",
    unhealthy=(
        "Deployment/shop: Degraded - 0/2 replicas ready",
        "Pod/shop-7d9c-x2: CrashLoopBackOff",
    ),
    events=("Back-off restarting failed container app in pod shop-7d9c-x2",),
    container="shop-7d9c-x2/app",
    log_tail=(
        "starting shop on :8080",
        f"connecting with GITHUB_TOKEN={GHS}",
        f"Authorization: Bearer {JWT}",
        "db url postgres://shop:hunter2hunter2@db:5432/shop",
        "```injected fence```",
        "Error: cannot connect to database",
    ),
)


def goldens() -> dict[str, str]:
    return {
        "progress_queued": progress_comment(progress(State.QUEUED, queued_behind=12)),
        "progress_queued_no_holder": progress_comment(progress(State.QUEUED)),
        "progress_waiting_for_build": progress_comment(
            progress(
                State.WAITING_FOR_BUILD,
                build_sha=SHA,
                build_url="https://github.com/acme/shop/actions/runs/42",
            )
        ),
        "progress_committing": progress_comment(progress(State.COMMITTING)),
        "progress_syncing": progress_comment(
            progress(State.SYNCING, rows=(SYNCING_ROW,), change_url=PR_URL)
        ),
        "progress_succeeded": progress_comment(
            progress(State.SUCCEEDED, rows=(DONE_ROW,), change_url=PR_URL)
        ),
        "progress_promote_two_rows": progress_comment(
            progress(
                State.SUCCEEDED,
                command="/promote staging prod",
                rows=(EnvRow("staging", IMAGE, "Synced", "Healthy", "1" * 40), DONE_ROW),
            )
        ),
        "progress_failed": progress_comment(
            progress(State.FAILED, rows=(SYNCING_ROW,), change_url=PR_URL, failure=FAILURE)
        ),
        "progress_superseded": progress_comment(progress(State.SUPERSEDED, rows=(SYNCING_ROW,))),
        "progress_timed_out": progress_comment(
            progress(State.TIMED_OUT, rows=(SYNCING_ROW,), timeout=timedelta(minutes=10))
        ),
        "refusal": refusal_comment(
            "c-1",
            "/deploy prod",
            "bob",
            "You have write on acme/shop; deploying to prod needs maintain.",
        ),
        "build_failed": build_failed_comment(
            "c-2",
            "/deploy prod abc1234",
            "alice",
            SHA,
            "https://github.com/acme/shop/actions/runs/43",
        ),
        "status": status_comment(
            "c-3",
            "shop",
            [
                StatusRow(
                    "dev",
                    IMAGE,
                    "2" * 40,
                    "Synced",
                    "Healthy",
                    "alice",
                    datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                    41,
                ),
                StatusRow("staging", None, None, "Unknown", "Missing"),
                StatusRow(
                    "prod",
                    "ghcr.io/acme/shop:v1.4.0",
                    "3" * 40,
                    "Synced",
                    "Healthy",
                    "bob",
                    datetime(2026, 3, 2, 17, 5, tzinfo=UTC),
                    40,
                    hold=True,
                ),
            ],
        ),
        "help": reply_comment("c-4", help_text(ENVS)),
        "typo": reply_comment("c-5", _reply("/depoly prod").text),
        "unknown_env": reply_comment("c-6", _reply("/deploy prd").text),
    }


def _reply(body: str) -> Reply:
    result = parse_comment(body, environments=ENVS, sender_is_bot=False)
    assert isinstance(result, Reply)
    return result


@pytest.mark.parametrize("name", sorted(goldens()))
def test_golden(name: str, update_golden: bool) -> None:
    text = goldens()[name]
    path = GOLDEN / f"{name}.md"
    if update_golden:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run pytest with --update-golden and review it"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(goldens()))
def test_every_comment_is_marked_and_leaks_no_secret(name: str) -> None:
    text = goldens()[name]
    assert find_command_id(text) is not None
    for secret in SECRETS:
        assert secret not in text


def test_failed_comment_shows_why_without_opening_argo_cd() -> None:
    text = goldens()["progress_failed"]
    assert "Deployment/shop: Degraded - 0/2 replicas ready" in text
    assert "Back-off restarting failed container" in text
    assert "Error: cannot connect to database" in text
    assert "GITHUB_TOKEN=[redacted]" in text
    assert "````\n" in text  # the fence outgrows the backticks in the log


def test_log_tail_keeps_only_the_last_lines() -> None:
    lines = tuple(f"line {n}" for n in range(100))
    text = progress_comment(progress(State.FAILED, failure=Failure("crashed", log_tail=lines)))
    assert "line 59\n" not in text and "line 60\n" in text and "line 99\n" in text
    assert "**Last 40 log lines of the failing container**" in text


REDACTIONS = [
    (f"token {GHS} used", "token ghs_[redacted] used"),
    (f"x {GHS} y", "x ghs_[redacted] y"),
    ("ghp_" + "a" * 36, "ghp_[redacted]"),
    ("gho_" + "B" * 36, "gho_[redacted]"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_[redacted]"),
    (f"jwt={JWT}", "jwt=[redacted JWT]"),
    (f"got {JWT} back", "got [redacted JWT] back"),
    ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer [redacted]"),
    ("authorization: bearer abc.def-ghi_jkl", "authorization: bearer [redacted]"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [redacted]"),
    (
        f"https://x-access-token:{GHS}@github.com/acme/shop.git",
        "https://x-access-token:[redacted]@github.com/acme/shop.git",
    ),
    ("https://x-access-token:short@host/r.git", "https://x-access-token:[redacted]@host/r.git"),
    ("postgres://shop:s3cret!@db:5432/shop", "postgres://shop:[redacted]@db:5432/shop"),
    (f"key:\n{PEM}\nafter", "key:\n[redacted private key]\nafter"),
    ("-----BEGIN PRIVATE KEY-----\nMIIE\ncut off", "[redacted private key]"),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----",
        "[redacted private key]",
    ),
    ("AKIAIOSFODNN7EXAMPLE", "AKIA[redacted]"),
    ("id ASIAY34FZKBOKMUTVV7A here", "id ASIA[redacted] here"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [redacted]",
    ),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[redacted]"),
    ('{"password": "hunter22"}', '{"password": "[redacted]"}'),
    ("DB_PASSWORD=hunter22", "DB_PASSWORD=[redacted]"),
    ("api_key: abcd1234", "api_key: [redacted]"),
    ("xoxb-123456789012-abcdefghij", "xoxb-[redacted]"),
    # Ordinary text stays as it is.
    ("deployed ghcr.io/acme/shop:4b825dc to prod", "deployed ghcr.io/acme/shop:4b825dc to prod"),
    (f"commit {SHA}", f"commit {SHA}"),
    ("https://github.com/acme/shop/pull/7", "https://github.com/acme/shop/pull/7"),
    ("Back-off restarting failed container", "Back-off restarting failed container"),
    ("ghs_short", "ghs_short"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), REDACTIONS)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_is_idempotent() -> None:
    for text, _ in REDACTIONS:
        once = redact(text)
        assert redact(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("main", "`main`"),
        ("a`b", "``a`b``"),
        ("`x", "`` `x ``"),
        ("a\x00b", "`a\\u0000b`"),
        ("x" * 70, "`" + "x" * 59 + "…`"),
        (GHS, "`ghs_[redacted]`"),
    ],
)
def test_inline_code(text: str, expected: str) -> None:
    assert inline_code(text) == expected


def test_code_block_fence_outgrows_backticks() -> None:
    assert code_block(["a", "```b"]) == "````\na\n```b\n````"
    assert code_block(["plain"]) == "```\nplain\n```"


def test_table_cell_escapes_pipes_and_newlines() -> None:
    assert table_cell("a|b\nc") == "a\\|b c"
    assert table_cell(None) == "\N{EN DASH}"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (59, "59s"), (60, "1m 00s"), (3599, "59m 59s"), (3720, "1h 02m")],
)
def test_elapsed(seconds: int, shown: str) -> None:
    assert elapsed(timedelta(seconds=seconds)) == shown


def test_marker_round_trip_and_rejects_unsafe_ids() -> None:
    assert find_command_id(f"text\n{marker('abc-1.2_3')}\nmore") == "abc-1.2_3"
    assert find_command_id("<!-- autostack:command id= -->") is None
    assert find_command_id("a human comment") is None
    for bad in ["", "a b", "x-->", "a" * 65]:
        with pytest.raises(ValueError):
            marker(bad)


def test_requested_by_cannot_inject_markdown() -> None:
    text = refusal_comment("c", "/deploy prod", "evil](http://x)<b>", "No.")
    assert "@evilhttpxb," in text
    assert "@autostack[bot]," in refusal_comment("c", "/help", "autostack[bot]", "No.")
