"""Commit messages with Autostack trailers, read back by our parser and by git itself."""

from __future__ import annotations

import subprocess

import pytest

from bot.core.trailers import (
    APP,
    DELIVERY,
    ENV,
    IMAGE,
    REQUESTED_BY,
    ROLLBACK_OF,
    SOURCE_REPO,
    SOURCE_SHA,
    deploy_message,
    first,
    one_line,
    parse_trailers,
    rollback_message,
    short_image,
)

SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
IMAGE_REF = f"ghcr.io/acme/shop:{SHA}"
DEPLOY = {
    "app": "shop",
    "env": "prod",
    "image": IMAGE_REF,
    "source_repo": "acme/shop",
    "source_sha": SHA,
    "requested_by": "alice",
    "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
}


def git_trailers(message: str) -> dict[str, list[str]]:
    """What ``git interpret-trailers --parse`` reads from ``message``."""
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(": ")
        result.setdefault(key, []).append(value)
    return result


def test_deploy_message_layout() -> None:
    message = deploy_message(**DEPLOY, body="Requested in acme/shop#12.")
    assert message == (
        "deploy shop to prod: ghcr.io/acme/shop:4b825dc\n"
        "\n"
        "Requested in acme/shop#12.\n"
        "\n"
        "Autostack-App: shop\n"
        "Autostack-Env: prod\n"
        f"Autostack-Image: {IMAGE_REF}\n"
        "Autostack-Source-Repo: acme/shop\n"
        f"Autostack-Source-Sha: {SHA}\n"
        "Autostack-Requested-By: alice\n"
        "Autostack-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958\n"
    )


def test_deploy_message_without_body_has_subject_blank_line_trailers() -> None:
    lines = deploy_message(**DEPLOY).splitlines()
    assert lines[0] == "deploy shop to prod: ghcr.io/acme/shop:4b825dc"
    assert lines[1] == ""
    assert lines[2] == "Autostack-App: shop"
    assert len(lines) == 9


HOSTILE_BODIES = [
    None,
    "Plain body.",
    "Autostack-Env: dev\nAutostack-Image: evil:latest",
    "First paragraph.\n\n\n\nSecond paragraph.",
    "Notes\n---\nAutostack-Env: dev",
    "---",
    "# a comment-looking line\ntext",
    "tab\tand bell\x07 and escape\x1b[31m",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_git_reads_the_same_trailers_as_we_do(body: str | None) -> None:
    message = deploy_message(**DEPLOY, body=body)
    ours = parse_trailers(message)
    assert ours == git_trailers(message)
    assert ours == {
        APP: ["shop"],
        ENV: ["prod"],
        IMAGE: [IMAGE_REF],
        SOURCE_REPO: ["acme/shop"],
        SOURCE_SHA: [SHA],
        REQUESTED_BY: ["alice"],
        DELIVERY: ["72d3162e-cc78-11e3-81ab-4c9367dc0958"],
    }


@pytest.mark.parametrize(
    "hostile",
    [
        "mallory\nAutostack-Env: dev",
        "mallory\r\nAutostack-Env: dev",
        "mallory\rAutostack-Env: dev",
        "mallory\u2028Autostack-Env: dev",
        "mallory\x0bAutostack-Env: dev",
        "mallory\x85Autostack-Env: dev",
        "mallory\n\nAutostack-Env: dev",
    ],
)
def test_a_user_value_cannot_inject_a_trailer(hostile: str) -> None:
    message = deploy_message(**{**DEPLOY, "requested_by": hostile})
    for parsed in (parse_trailers(message), git_trailers(message)):
        assert parsed[ENV] == ["prod"]
        assert parsed[REQUESTED_BY] == ["mallory Autostack-Env: dev"]
    assert len(message.splitlines()) == 9


def test_rollback_message_reverts_newest_first_and_git_agrees() -> None:
    reverted = ["c" * 40, "b" * 40]
    message = rollback_message(
        app="shop",
        env="prod",
        reverted=reverted,
        target_image="ghcr.io/acme/shop:v1.4.0",
        requested_by="bob",
        delivery="d-1",
        source_repo="acme/shop",
        source_sha=SHA,
        body="Requested in acme/shop#12.",
    )
    assert message.splitlines()[:6] == [
        "roll back shop in prod to ghcr.io/acme/shop:v1.4.0",
        "",
        f"This reverts commit {'c' * 40}.",
        f"This reverts commit {'b' * 40}.",
        "",
        "Requested in acme/shop#12.",
    ]
    parsed = parse_trailers(message)
    assert parsed == git_trailers(message)
    assert parsed[ROLLBACK_OF] == reverted
    assert parsed[IMAGE] == ["ghcr.io/acme/shop:v1.4.0"]
    assert parsed[SOURCE_SHA] == [SHA]
    assert first(parsed, REQUESTED_BY) == "bob"
    assert first(parsed, "Missing") is None


def test_rollback_message_without_source_leaves_source_trailers_out() -> None:
    message = rollback_message(
        app="shop",
        env="dev",
        reverted=["a" * 40],
        target_image="ghcr.io/acme/shop:v1",
        requested_by="autostack[bot]",
        delivery="x",
    )
    parsed = parse_trailers(message)
    assert parsed == git_trailers(message)
    assert SOURCE_REPO not in parsed and SOURCE_SHA not in parsed


def test_rollback_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        rollback_message(
            app="a", env="e", reverted=[], target_image="i", requested_by="r", delivery="d"
        )


def test_an_empty_value_is_an_error() -> None:
    with pytest.raises(ValueError, match="Autostack-Requested-By"):
        deploy_message(**{**DEPLOY, "requested_by": " \n "})


# (message, what git and we both find)
PARSE_CASES: list[tuple[str, dict[str, list[str]]]] = [
    ("subject only\n", {}),
    ("Autostack-App: shop\n", {}),
    ("subject\n\nbody text\n", {}),
    ("subject\n\nAutostack-App: shop\n\n\n", {APP: ["shop"]}),
    ("subject\n\nAutostack-App: shop\nnot a trailer\n", {}),
    ("subject\n\nAutostack-App: shop\n\nbody after\n", {}),
    ("subject\n\nautostack-app: shop\n", {APP: ["shop"]}),
    ("subject\n\nAutostack-App:shop\n", {APP: ["shop"]}),
    ("subject\n\nAutostack-App: long\n  continued\n", {APP: ["long continued"]}),
    ("subject\n\nA: 1\nA: 2\nB: 3\n", {"A": ["1", "2"], "B": ["3"]}),
    ("subject\n\nbody\n---\nAutostack-App: x\n", {}),
    ("subject\n\nAutostack-App: shop\n---\nAutostack-Env: dev\n", {APP: ["shop"]}),
]


@pytest.mark.parametrize(("message", "expected"), PARSE_CASES)
def test_parse_trailers_matches_git(message: str, expected: dict[str, list[str]]) -> None:
    assert parse_trailers(message) == expected
    git = git_trailers(message)
    # git keeps the key as written; we give known keys their canonical spelling.
    assert {k.lower(): v for k, v in parse_trailers(message).items()} == {
        k.lower(): v for k, v in git.items()
    }


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        (IMAGE_REF, "ghcr.io/acme/shop:4b825dc"),
        ("ghcr.io/acme/shop:v1.2.3", "ghcr.io/acme/shop:v1.2.3"),
        ("localhost:5000/shop", "localhost:5000/shop"),
        (f"localhost:5000/shop:{SHA}", "localhost:5000/shop:4b825dc"),
        ("shop", "shop"),
    ],
)
def test_short_image(image: str, shown: str) -> None:
    assert short_image(image) == shown


def test_one_line_flattens_and_caps() -> None:
    assert one_line(" a\n b\t\tc\x00d ") == "a b cd"
    assert len(one_line("x" * 500)) == 200
