"""Table-driven tests of the comment command parser."""

from __future__ import annotations

import pytest

from bot.core.commands import (
    COMMANDS,
    Deploy,
    Ignore,
    Promote,
    Reply,
    Rollback,
    RollbackTarget,
    Spec,
    Status,
    command_text,
    help_text,
    parse_comment,
)

ENVS = ("dev", "staging", "prod")
SHA40 = "0123456789abcdef0123456789abcdef01234567"

COMMAND_CASES = [
    ("/deploy prod", Deploy("prod")),
    ("/deploy dev", Deploy("dev")),
    ("  /deploy staging  ", Deploy("staging")),
    ("\n\n/deploy prod\n", Deploy("prod")),
    ("/deploy prod\nplease, it's urgent", Deploy("prod")),
    ("/deploy prod\n/deploy dev", Deploy("prod")),
    ("/deploy\tprod", Deploy("prod")),
    ("/deploy   prod    main", Deploy("prod", "main")),
    ("/Deploy prod", Deploy("prod")),
    ("/DEPLOY PROD", Deploy("prod")),
    ("/deploy prod main", Deploy("prod", "main")),
    ("/deploy prod feature/login-form", Deploy("prod", "feature/login-form")),
    ("/deploy prod v1.2.3", Deploy("prod", "v1.2.3")),
    ("/deploy prod release_2024.10", Deploy("prod", "release_2024.10")),
    ("/deploy prod refs/heads/main", Deploy("prod", "refs/heads/main")),
    ("/deploy prod abc1234", Deploy("prod", "abc1234")),
    ("/deploy prod ABC1234", Deploy("prod", "abc1234")),
    (f"/deploy prod {SHA40}", Deploy("prod", SHA40)),
    ("/deploy prod cafe", Deploy("prod", "cafe")),
    ("/promote staging prod", Promote("staging", "prod")),
    ("/promote dev staging", Promote("dev", "staging")),
    ("/promote prod dev", Promote("prod", "dev")),
    ("/rollback prod", Rollback("prod")),
    ("/rollback prod abc1234", Rollback("prod", RollbackTarget("sha", "abc1234"))),
    ("/rollback prod ABCDEF1", Rollback("prod", RollbackTarget("sha", "abcdef1"))),
    ("/rollback prod d-42", Rollback("prod", RollbackTarget("deployment", "42"))),
    ("/rollback prod D-7", Rollback("prod", RollbackTarget("deployment", "7"))),
    ("/rollback prod d-007", Rollback("prod", RollbackTarget("deployment", "7"))),
    ("/rollback prod v1.4.0", Rollback("prod", RollbackTarget("tag", "v1.4.0"))),
    ("/rollback prod 2024-10-01", Rollback("prod", RollbackTarget("tag", "2024-10-01"))),
    ("/rollback prod 42", Rollback("prod", RollbackTarget("tag", "42"))),
    ("/status", Status()),
    ("/status prod", Status("prod")),
    ("/STATUS dev", Status("dev")),
]


@pytest.mark.parametrize(("body", "expected"), COMMAND_CASES)
def test_commands_parse_into_values(body: str, expected: object) -> None:
    assert parse_comment(body, environments=ENVS, sender_is_bot=False) == expected


IGNORE_CASES = [
    "",
    "   \n  ",
    "LGTM",
    "Thanks! /deploy prod later",
    "> /deploy prod",
    "`/deploy prod`",
    "please /deploy prod",
    "/shrug",
    "/usr/local/bin is on the PATH",
    "/",
    "/ deploy prod",
    "/d prod",
    "first line\n/deploy prod",
]


@pytest.mark.parametrize("body", IGNORE_CASES)
def test_non_commands_are_ignored(body: str) -> None:
    assert isinstance(parse_comment(body, environments=ENVS, sender_is_bot=False), Ignore)


@pytest.mark.parametrize("body", ["/deploy prod", "/help", "/depoly prod", "/deploy prod ;x"])
def test_bot_senders_are_ignored_whatever_they_say(body: str) -> None:
    result = parse_comment(body, environments=ENVS, sender_is_bot=True)
    assert result == Ignore("the sender is a bot")


# (comment, reply kind, phrases the reply must contain)
REPLY_CASES = [
    ("/depoly prod", "typo", ["`/depoly`", "did you mean `/deploy`?", "`/deploy <env> [<ref>]`"]),
    ("/deplyo prod", "typo", ["did you mean `/deploy`?"]),
    ("/redeploy prod", "typo", ["did you mean `/deploy`?"]),
    ("/promte staging prod", "typo", ["did you mean `/promote`?"]),
    ("/rollbak prod", "typo", ["did you mean `/rollback`?"]),
    ("/stauts", "typo", ["did you mean `/status`?"]),
    ("/hepl", "typo", ["did you mean `/help`?"]),
    ("/halp", "typo", ["did you mean `/help`?"]),
    ("/deploy prd", "unknown_env", ["`prd` is not an environment", "`prod`?", "`dev`, `staging`"]),
    ("/deploy production", "unknown_env", ["`production`", "Environments: `dev`"]),
    ("/deploy qa", "unknown_env", ["`qa` is not an environment.", "`staging`, `prod`"]),
    ("/status qa", "unknown_env", ["`qa` is not an environment"]),
    ("/promote dev prdo", "unknown_env", ["`prdo`", "Did you mean `prod`?"]),
    ("/rollback stagin", "unknown_env", ["Did you mean `staging`?"]),
    ("/deploy", "usage", ["`/deploy` needs `<env>`", "Usage: `/deploy <env> [<ref>]`"]),
    ("/promote staging", "usage", ["`/promote` needs `<to-env>`"]),
    ("/promote", "usage", ["`/promote` needs `<from-env>`"]),
    ("/rollback", "usage", ["`/rollback` needs `<env>`"]),
    ("/deploy prod main now", "usage", ["at most 2 arguments", "unexpected: `now`"]),
    ("/promote dev staging prod", "usage", ["unexpected: `prod`"]),
    ("/status dev prod", "usage", ["at most 1 argument;", "unexpected: `prod`"]),
    ("/help me", "usage", ["`/help` takes no arguments", "unexpected: `me`"]),
    ("/rollback prod d-1 d-2", "usage", ["unexpected: `d-2`"]),
    ("/promote dev dev", "invalid", ["onto itself", "two different environments"]),
    ("/promote PROD prod", "invalid", ["onto itself"]),
    ("/deploy prod main;rm", "invalid", ["`;`, a shell metacharacter"]),
    ("/deploy prod $(id)", "invalid", ["`$`, a shell metacharacter"]),
    ("/deploy prod `id`", "invalid", ["a shell metacharacter"]),
    ("/deploy prod a|b", "invalid", ["`|`, a shell metacharacter"]),
    ("/deploy prod a&&b", "invalid", ["`&`, a shell metacharacter"]),
    ("/deploy prod >out", "invalid", ["`>`, a shell metacharacter"]),
    ("/deploy prod main~1", "invalid", ["`~`, a shell metacharacter"]),
    ("/deploy prod HEAD^", "invalid", ["`^`, a shell metacharacter"]),
    ("/deploy prod a:b", "invalid", ["`:`, not allowed"]),
    ("/deploy prod br@nch", "invalid", ["`@`, not allowed"]),
    ("/deploy prod café", "invalid", ["`é`, not allowed"]),
    ("/deploy prod ../../etc/passwd", "invalid", ["contains `..`"]),
    ("/deploy prod main..dev", "invalid", ["contains `..`"]),
    ("/deploy prod -f", "invalid", ["starts with `-` like an option"]),
    ("/deploy prod --upload-pack=x", "invalid", ["like an option"]),
    ("/deploy -prod", "invalid", ["The env `-prod` starts with `-`"]),
    ("/deploy prod ma\x00in", "invalid", ["control character (U+0000)", "`ma\\u0000in`"]),
    ("/deploy prod ma\x1bin", "invalid", ["control character (U+001B)"]),
    ("/deploy prod ma\u200bin", "invalid", ["invisible", "(U+200B)"]),
    ("/deploy prod\u202e main", "invalid", ["(U+202E)"]),
    ("/deploy prod " + "a" * 101, "invalid", ["101 characters long; the limit is 100"]),
    ("/deploy prod " + "a/" * 160 + "b", "usage", ["characters long; the limit is 300"]),
    ("/deploy prod 1234", "invalid", ["too short for a commit sha", "7 to 40 hex digits"]),
    ("/deploy prod abc12", "invalid", ["too short for a commit sha"]),
    ("/deploy prod /main", "invalid", ["not a valid git ref name", "starts or ends with `/`"]),
    ("/deploy prod main/", "invalid", ["starts or ends with `/`"]),
    ("/deploy prod a//b", "invalid", ["contains `//`"]),
    ("/deploy prod main.", "invalid", ["ends with `.`"]),
    ("/deploy prod feature/.hidden", "invalid", ["component that starts with `.`"]),
    ("/deploy prod main.lock", "invalid", ["component that ends with `.lock`"]),
    ("/rollback prod #12", "invalid", ["issue or pull request number", "such as `d-12`"]),
    ("/rollback prod feature/x", "invalid", ["neither a commit sha", "an image tag"]),
    ("/rollback prod .hidden", "invalid", ["neither a commit sha"]),
    ("/rollback prod d-1;x", "invalid", ["a shell metacharacter"]),
    ("/rollback prod ../x", "invalid", ["contains `..`"]),
]


@pytest.mark.parametrize(("body", "kind", "phrases"), REPLY_CASES)
def test_bad_commands_get_a_reply_that_says_what_is_wrong(
    body: str, kind: str, phrases: list[str]
) -> None:
    result = parse_comment(body, environments=ENVS, sender_is_bot=False)
    assert isinstance(result, Reply), result
    assert result.kind == kind
    for phrase in phrases:
        assert phrase in result.text, (phrase, result.text)


def test_total_table_size_is_large_enough() -> None:
    assert len(COMMAND_CASES) + len(IGNORE_CASES) + len(REPLY_CASES) >= 60


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_every_usage_reply_shows_the_usage_line_from_the_table(spec: Spec) -> None:
    result = parse_comment(f"/{spec.name} x y z", environments=ENVS, sender_is_bot=False)
    assert isinstance(result, Reply)
    assert f"Usage: `{spec.usage}`" in result.text


def test_help_lists_every_command_with_the_parsers_usage_and_the_environments() -> None:
    result = parse_comment("/help", environments=ENVS, sender_is_bot=False)
    assert result == Reply(help_text(ENVS), "help")
    usages = [line.split("`")[1] for line in result.text.splitlines() if line.startswith("| `/")]
    assert usages == [
        "/deploy <env> [<ref>]",
        "/promote <from-env> <to-env>",
        "/rollback <env> [<target>]",
        "/status [<env>]",
        "/help",
    ]
    assert "Environments: `dev`, `staging`, `prod`." in result.text


def test_help_uses_the_configured_environments() -> None:
    result = parse_comment("/help", environments=("qa", "live"), sender_is_bot=False)
    assert isinstance(result, Reply)
    assert "Environments: `qa`, `live`." in result.text
    assert parse_comment("/deploy live", environments=("qa", "live"), sender_is_bot=False) == (
        Deploy("live")
    )
    unknown = parse_comment("/deploy prod", environments=("qa",), sender_is_bot=False)
    assert isinstance(unknown, Reply)


def test_a_reply_never_lets_an_argument_break_out_of_its_code_span() -> None:
    result = parse_comment("/deploy prod a``b@x", environments=ENVS, sender_is_bot=False)
    assert isinstance(result, Reply)
    assert "```a``b@x```" in result.text


def test_a_reply_does_not_echo_a_token_pasted_as_an_argument() -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    result = parse_comment(f"/deploy prod {token};", environments=ENVS, sender_is_bot=False)
    assert isinstance(result, Reply)
    assert token not in result.text


def test_rollback_target_renders_as_typed() -> None:
    assert str(RollbackTarget("deployment", "42")) == "d-42"
    assert RollbackTarget("deployment", "42").deployment_id == 42
    assert RollbackTarget("sha", "abc1234").deployment_id is None
    assert str(RollbackTarget("tag", "v1")) == "v1"


@pytest.mark.parametrize(
    "line",
    [
        "/deploy prod",
        "/deploy prod feature/x",
        "/promote staging prod",
        "/rollback prod",
        "/rollback prod d-42",
        "/rollback prod v1.2",
        "/status",
        "/status dev",
    ],
)
def test_command_text_round_trips(line: str) -> None:
    command = parse_comment(line, environments=ENVS, sender_is_bot=False)
    assert isinstance(command, Deploy | Promote | Rollback | Status)
    assert command_text(command) == line
