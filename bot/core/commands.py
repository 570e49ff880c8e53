"""Comment commands: the first line of a comment parsed into a Command, a Reply or Ignore.

One table (:data:`COMMANDS`) drives the parser, the usage lines and the help text, so the
three cannot disagree. Arguments are checked before anything else sees them: anything
that could be a shell, path or option trick is refused with a reply that says what was
wrong and how the command is used.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.core.messages import inline_code

MAX_LINE_CHARS = 300
MAX_ARG_CHARS = 100
SAFE_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")
SHELL_CHARS = frozenset(";|&$`<>(){}[]*?!~^'\"\\")
HEX_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
SHORT_HEX = re.compile(r"^(?=.*[0-9])[0-9a-fA-F]{1,6}$")  # "cafe" is a word, "c4fe" a sha
DEPLOYMENT_ID = re.compile(r"^[dD]-([0-9]{1,12})$")
ISSUE_NUMBER = re.compile(r"^#[0-9]+$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")  # \Z: no trailing newline

ParamKind = Literal["env", "ref", "target"]
ReplyKind = Literal["help", "typo", "unknown_env", "usage", "invalid"]


@dataclass(frozen=True)
class Deploy:
    """Deploy ``ref`` (default: the PR's head commit) to ``env``."""

    env: str
    ref: str | None = None
    name = "deploy"


@dataclass(frozen=True)
class Promote:
    """Deploy to ``target_env`` the image that runs in ``source_env``."""

    source_env: str
    target_env: str
    name = "promote"


@dataclass(frozen=True)
class RollbackTarget:
    """What ``/rollback`` goes back to: a commit sha, an image tag, or a deployment id."""

    kind: Literal["sha", "tag", "deployment"]
    value: str  # a lower-case sha prefix, a tag, or the deployment's number

    @property
    def deployment_id(self) -> int | None:
        return int(self.value) if self.kind == "deployment" else None

    def __str__(self) -> str:
        return f"d-{self.value}" if self.kind == "deployment" else self.value


@dataclass(frozen=True)
class Rollback:
    """Revert the latest deployment to ``env``, or every one newer than ``target``."""

    env: str
    target: RollbackTarget | None = None
    name = "rollback"


@dataclass(frozen=True)
class Status:
    """Show every environment, or only ``env``."""

    env: str | None = None
    name = "status"


Command = Deploy | Promote | Rollback | Status


def command_text(command: Command) -> str:
    """The command as a user would type it, e.g. ``/deploy prod main``: for comments and
    the audit log."""
    if isinstance(command, Deploy):
        args: tuple[object, ...] = (command.env, command.ref)
    elif isinstance(command, Promote):
        args = (command.source_env, command.target_env)
    elif isinstance(command, Rollback):
        args = (command.env, command.target)
    else:
        args = (command.env,)
    return " ".join([f"/{command.name}", *(str(arg) for arg in args if arg is not None)])


@dataclass(frozen=True)
class Reply:
    """Answer the comment with ``text`` and do nothing else."""

    text: str
    kind: ReplyKind = "usage"


@dataclass(frozen=True)
class Ignore:
    """Not a command for the bot; ``reason`` is for the log only."""

    reason: str


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    optional: bool = False

    @property
    def usage(self) -> str:
        return f"[<{self.name}>]" if self.optional else f"<{self.name}>"


@dataclass(frozen=True)
class Spec:
    """One command: its parameters, what it does, and how its value is built."""

    name: str
    params: tuple[Param, ...]
    summary: str
    build: Callable[[list[object]], Command | None]  # one value per param, None if absent

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(param.usage for param in self.params)])


def _str(value: object) -> str:
    assert isinstance(value, str)
    return value


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_target(value: object) -> RollbackTarget | None:
    return value if isinstance(value, RollbackTarget) else None


COMMANDS: tuple[Spec, ...] = (
    Spec(
        "deploy",
        (Param("env", "env"), Param("ref", "ref", optional=True)),
        "Deploy this pull request's head commit, or `<ref>` (a branch, a tag, or a commit "
        "sha of 7 to 40 hex digits), to `<env>`.",
        lambda v: Deploy(_str(v[0]), _opt_str(v[1])),
    ),
    Spec(
        "promote",
        (Param("from-env", "env"), Param("to-env", "env")),
        "Deploy to `<to-env>` the image that runs in `<from-env>` now.",
        lambda v: Promote(_str(v[0]), _str(v[1])),
    ),
    Spec(
        "rollback",
        (Param("env", "env"), Param("target", "target", optional=True)),
        "Revert the latest deployment to `<env>`, or every deployment newer than `<target>` "
        "(a GitOps or app commit sha, an image tag, or a deployment id such as `d-42` "
        "from `/status`).",
        lambda v: Rollback(_str(v[0]), _opt_target(v[1])),
    ),
    Spec(
        "status",
        (Param("env", "env", optional=True),),
        "Show the image, revision, sync and health of every environment (or of `<env>`), "
        "as Argo CD sees them now.",
        lambda v: Status(_opt_str(v[0])),
    ),
    Spec("help", (), "Show this help.", lambda v: None),
)
SPECS = {spec.name: spec for spec in COMMANDS}


def help_text(environments: Sequence[str]) -> str:
    """The ``/help`` answer, generated from :data:`COMMANDS`."""
    rows = "\n".join(f"| `{spec.usage}` | {spec.summary} |" for spec in COMMANDS)
    return (
        "**AutoStack commands**: write one as the first line of a new comment.\n\n"
        "| Command | What it does |\n| --- | --- |\n"
        f"{rows}\n\n"
        f"Environments: {_env_list(environments)}."
    )


def parse_comment(
    body: str, *, environments: Sequence[str], sender_is_bot: bool
) -> Command | Reply | Ignore:
    """Parse a new comment; only its first line counts, and bots are never obeyed."""
    if sender_is_bot:
        return Ignore("the sender is a bot")
    line = _first_line(body)
    if not line.startswith("/"):
        return Ignore("the first line is not a command")
    word, *args = line.split()
    name = word[1:].lower()
    spec = SPECS.get(name)
    if spec is None:
        return _unknown_command(word)
    if len(line) > MAX_LINE_CHARS:
        problem = f"The command line is {len(line)} characters long; the limit is {MAX_LINE_CHARS}."
        return _usage_reply(spec, problem, environments)
    return _bind(spec, args, environments)


def _first_line(body: str) -> str:
    lines = body.strip().splitlines()
    return lines[0].strip() if lines else ""


def _unknown_command(word: str) -> Reply | Ignore:
    # A slash line far from every command is prose (a path, "/shrug"), not a typo.
    guess = difflib.get_close_matches(word[1:].lower(), list(SPECS), n=1, cutoff=0.6)
    if not guess:
        return Ignore("the first line starts with '/' but names no command")
    spec = SPECS[guess[0]]
    return Reply(
        f"{inline_code(word)} is not a command; did you mean `/{spec.name}`?\n\n"
        f"Usage: `{spec.usage}`: {spec.summary} Send `/help` for every command.",
        "typo",
    )


def _bind(spec: Spec, args: list[str], environments: Sequence[str]) -> Command | Reply:
    required = [param for param in spec.params if not param.optional]
    if len(args) < len(required):
        missing = spec.params[len(args)]
        problem = f"`/{spec.name}` needs `<{missing.name}>`."
        return _usage_reply(spec, problem, environments)
    if len(args) > len(spec.params):
        extra = ", ".join(inline_code(arg, 30) for arg in args[len(spec.params) :])
        most = len(spec.params)
        takes = f"at most {most} argument{'s' if most != 1 else ''}" if most else "no arguments"
        problem = f"`/{spec.name}` takes {takes}; unexpected: {extra}."
        return _usage_reply(spec, problem, environments)
    values: list[object] = []
    for param, arg in zip(spec.params, args, strict=False):
        value = _VALIDATORS[param.kind](param, arg, environments)
        if isinstance(value, Reply):
            return _usage_reply(spec, value.text, environments, value.kind)
        values.append(value)
    values += [None] * (len(spec.params) - len(values))  # absent optional arguments
    command = spec.build(values)
    if command is None:
        return Reply(help_text(environments), "help")
    if isinstance(command, Promote) and command.source_env == command.target_env:
        problem = (
            f"`/promote {command.source_env} {command.target_env}` would promote an environment "
            "onto itself; name two different environments."
        )
        return _usage_reply(spec, problem, environments, "invalid")
    return command


def _usage_reply(
    spec: Spec,
    problem: str,
    environments: Sequence[str],
    kind: ReplyKind = "usage",
) -> Reply:
    text = f"{problem}\n\nUsage: `{spec.usage}`: {spec.summary}"
    if any(param.kind == "env" for param in spec.params):
        text += f"\n\nEnvironments: {_env_list(environments)}."
    return Reply(text, kind)


def _env_list(environments: Sequence[str]) -> str:
    return ", ".join(f"`{env}`" for env in environments) or "none configured"


def _danger(param: Param, arg: str) -> Reply | None:
    """Why ``arg`` is unsafe to pass on, or None; checks common to every argument."""
    shown = f"The {param.name} {inline_code(arg, 40)}"
    hidden = next((ch for ch in arg if _is_invisible(ch)), None)
    if hidden is not None:
        code = f"U+{ord(hidden):04X}"
        return _invalid(f"{shown} contains an invisible or control character ({code}).")
    if len(arg) > MAX_ARG_CHARS:
        return _invalid(f"{shown} is {len(arg)} characters long; the limit is {MAX_ARG_CHARS}.")
    if arg.startswith("-"):
        return _invalid(f"{shown} starts with `-` like an option; arguments cannot.")
    if ".." in arg:
        return _invalid(f"{shown} contains `..`, which is not allowed.")
    bad = next((ch for ch in arg if not SAFE_CHARS.match(ch)), None)
    if bad is not None:
        what = "a shell metacharacter" if bad in SHELL_CHARS else "not allowed"
        return _invalid(
            f"{shown} contains {inline_code(bad)}, {what}; arguments may use only letters, "
            "digits, `.`, `_`, `/` and `-`."
        )
    return None


def _is_invisible(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def _invalid(text: str) -> Reply:
    return Reply(text, "invalid")


def _env(param: Param, arg: str, environments: Sequence[str]) -> str | Reply:
    danger = _danger(param, arg)
    if danger is not None:
        return danger
    name = arg.lower()
    if name in environments:
        return name
    guess = difflib.get_close_matches(name, list(environments), n=1, cutoff=0.6)
    hint = f" Did you mean `{guess[0]}`?" if guess else ""
    return Reply(f"{inline_code(arg, 40)} is not an environment.{hint}", "unknown_env")


def _ref(param: Param, arg: str, environments: Sequence[str]) -> str | Reply:
    danger = _danger(param, arg)
    if danger is not None:
        return danger
    if HEX_SHA.match(arg):
        return arg.lower()
    shown = f"The {param.name} {inline_code(arg, 40)}"
    if SHORT_HEX.match(arg):
        return _invalid(f"{shown} is too short for a commit sha; give 7 to 40 hex digits.")
    problem = _ref_format_problem(arg)
    if problem is not None:
        return _invalid(f"{shown} is not a valid git ref name: it {problem}.")
    return arg


def _ref_format_problem(ref: str) -> str | None:
    """The rule of ``git check-ref-format`` that ``ref`` breaks (after the character checks)."""
    if ref.startswith("/") or ref.endswith("/"):
        return "starts or ends with `/`"
    if "//" in ref:
        return "contains `//`"
    if ref.endswith("."):
        return "ends with `.`"
    for part in ref.split("/"):
        if part.startswith("."):
            return "has a path component that starts with `.`"
        if part.endswith(".lock"):
            return "has a path component that ends with `.lock`"
    return None


def _target(param: Param, arg: str, environments: Sequence[str]) -> RollbackTarget | Reply:
    if ISSUE_NUMBER.match(arg):
        # GitHub links "#12" to an issue; deployment ids get their own prefix to stay apart.
        return _invalid(
            f"{inline_code(arg)} looks like an issue or pull request number; name a deployment "
            f"by the id `/status` shows, such as `d-{arg[1:]}`."
        )
    danger = _danger(param, arg)
    if danger is not None:
        return danger
    deployment = DEPLOYMENT_ID.match(arg)
    if deployment:
        return RollbackTarget("deployment", str(int(deployment.group(1))))
    if HEX_SHA.match(arg):
        return RollbackTarget("sha", arg.lower())
    if IMAGE_TAG.match(arg):
        return RollbackTarget("tag", arg)
    return _invalid(
        f"The {param.name} {inline_code(arg, 40)} is neither a commit sha (7 to 40 hex digits), "
        "an image tag, nor a deployment id such as `d-42`."
    )


_VALIDATORS: dict[ParamKind, Callable[[Param, str, Sequence[str]], object]] = {
    "env": _env,
    "ref": _ref,
    "target": _target,
}
