"""The git adapter's pure helpers, on hand-written git output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.adapters.git.parsing import (
    classify,
    matches,
    parse_log,
    parse_push,
    safe_path,
    scrub,
    without_credentials,
)
from bot.core.errors import PermanentError, TransientError

A, B, C = "a" * 40, "b" * 40, "c" * 40
DEPLOY = "deploy web to prod: web:v2\n\nAutostack-App: web\nAutostack-Env: prod\n"
ROLLBACK = (
    "roll back web in prod\n\nThis reverts commit bbbbbbb.\n\n"
    f"Autostack-App: web\nAutostack-Env: prod\nAutostack-Rollback-Of: {B}\n"
)
BY_HAND = f'Revert "deploy"\n\nThis reverts commit {A}.\n'


def record(sha: str, parents: str, message: str) -> str:
    return "\0".join(
        [sha, parents, "AutoStack", "bot@example.com", "2026-01-01T12:00:00+00:00"]
    ) + (f"\0{message}\0")


def test_parse_log_reads_records_with_multiline_messages() -> None:
    output = record(C, B, ROLLBACK) + record(B, A, DEPLOY) + record(A, "", BY_HAND)
    commits = parse_log(output)
    assert [c.sha for c in commits] == [C, B, A]
    assert commits[0].subject == "roll back web in prod" and commits[0].parents == (B,)
    assert commits[0].rollback_of == (B,)  # the trailer; git's short sentence adds nothing new
    assert commits[1].trailers == {"Autostack-App": ["web"], "Autostack-Env": ["prod"]}
    assert commits[1].rollback_of == ()
    assert commits[2].rollback_of == (A,) and commits[2].parents == ()
    assert commits[2].date == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_log("") == []


def test_parse_log_refuses_truncated_output() -> None:
    with pytest.raises(PermanentError):
        parse_log(record(B, A, DEPLOY) + record(A, "", DEPLOY).split("\0", 1)[1])


def test_matches_needs_every_wanted_trailer() -> None:
    (deploy,) = parse_log(record(B, A, DEPLOY))
    assert matches(deploy, {})
    assert matches(deploy, {"Autostack-App": "web", "Autostack-Env": "prod"})
    assert not matches(deploy, {"Autostack-App": "web", "Autostack-Env": "dev"})
    assert not matches(deploy, {"Autostack-Delivery": "x"})


@pytest.mark.parametrize(
    ("stdout", "stderr", "ok", "race"),
    [
        (f"To x\n \t{A}:refs/heads/main\t{A[:7]}..{B[:7]}\nDone\n", "", True, False),
        (f"To x\n*\t{A}:refs/heads/main\t[new branch]\nDone\n", "", True, False),
        (f"To x\n+\t{A}:refs/heads/main\t{A[:7]}...{B[:7]} (forced update)\n", "", True, False),
        (f"!\t{A}:refs/heads/main\t[rejected] (fetch first)\n", "", False, True),
        (f"!\t{A}:refs/heads/main\t[rejected] (non-fast-forward)\n", "", False, True),
        (f"!\t{A}:refs/heads/main\t[rejected] (stale info)\n", "", False, True),
        (
            f"!\t{A}:refs/heads/main\t[remote rejected] (failed to update ref)\n",
            "remote: error: cannot lock ref 'refs/heads/main': is at x but expected y",
            False,
            True,
        ),
        (
            f"!\t{A}:refs/heads/main\t[remote rejected] (pre-receive hook declined)\n",
            "",
            False,
            False,
        ),
        (f"!\t{A}:refs/heads/other\t[rejected] (fetch first)\n", "", False, False),
        ("", "fatal: unable to access", False, False),
    ],
)
def test_parse_push(stdout: str, stderr: str, ok: bool, race: bool) -> None:
    outcome = parse_push(stdout, "refs/heads/main", stderr)
    assert (outcome.ok, outcome.race) == (ok, race)


@pytest.mark.parametrize(
    ("stderr", "kind", "hint"),
    [
        (
            "fatal: unable to access 'u': The requested URL returned error: 502",
            TransientError,
            None,
        ),
        ("fatal: unable to access 'u': Could not resolve host: example.com", TransientError, None),
        ("fatal: the remote end hung up unexpectedly", TransientError, None),
        ("fatal: Authentication failed for 'https://h/a.git/'", PermanentError, "installed"),
        ("remote: Repository not found.\nfatal: repository 'u' not found", PermanentError, "URL"),
        ("error: pathspec 'x' did not match any file(s) known to git", PermanentError, None),
    ],
)
def test_classify(stderr: str, kind: type[Exception], hint: str | None) -> None:
    error = classify("git fetch", stderr)
    assert type(error) is kind
    assert str(error).startswith("git fetch failed: ")
    if hint:
        assert error.hint and hint in error.hint
    else:
        assert error.hint is None


def test_scrub_masks_known_secrets_and_token_shapes() -> None:
    stderr = (
        "remote: odd-token-value-1234 was refused\n"
        "hint: try again later\n"
        "fatal: could not read from https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz@h/r.git\n"
        "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hz\n"
    )
    text = scrub(stderr, ["odd-token-value-1234"])
    for secret in ("odd-token-value-1234", "ghs_abcdefghijklmnopqrstuvwxyz", "eC1hY2Nlc3M"):
        assert secret not in text
    assert "hint:" not in text and "\n" not in text
    assert text.startswith("remote: [redacted] was refused | fatal: could not read")
    assert len(scrub("x" * 5000)) == 600


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../../x", ".git/config", "a\\b"])
def test_safe_path_refuses_escapes(path: str) -> None:
    with pytest.raises(PermanentError):
        safe_path(path)


def test_safe_path_normalizes() -> None:
    assert safe_path("apps//web/overlays/prod/") == "apps/web/overlays/prod"
    assert safe_path("apps/.gitkeep") == "apps/.gitkeep"


def test_without_credentials() -> None:
    for url in ("https://github.com/a/b.git", "file:///tmp/r.git", "git@github.com:a/b.git"):
        assert without_credentials(url) == url
    with pytest.raises(PermanentError):
        without_credentials("https://x-access-token:secret@github.com/a/b.git")
