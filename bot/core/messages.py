"""The text the bot posts on GitHub, rendered from values, and the redaction applied to it.

Every comment the bot writes for a command carries a hidden marker so the bot can find and
edit its own comment in place. Anything echoed back (pod logs, events, error text, user
input) goes through :func:`redact` and is quoted so it can neither leak a secret nor break
the Markdown around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.plans import State
from bot.core.secrets import KNOWN_SECRETS, KnownSecrets
from bot.core.trailers import short_image

MAX_LOG_LINES = 40
EMPTY = "\N{EN DASH}"  # shown for a value not known yet
MAX_LINE_CHARS = 300
COMMAND_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MARKER = re.compile(r"<!-- autostack:command id=([A-Za-z0-9._-]{1,64}) -->")

# Key names whose value is a secret, in ``name: value`` and ``name=value`` forms. ``auth``
# and ``webhook`` count only as whole words or prefixes (``auth_token``), not inside
# ``authority`` or ``webhooks``.
_SECRET_KEY = (
    r"(?:secret|password|passwd|token|credentials?|api[_ .-]?key|private[_ .-]?key"
    r"|access[_ .-]?key|auth(?![a-z])|webhook(?![a-z]))"
)
# The same names followed by a space and the value (``password hunter2``), except when the
# next word is plain English (``password authentication failed``).
_SPACED_KEY = r"(?:password|passwd|secret|credentials?|api[_ -]?key|private[_ -]?key)"
_NOT_A_VALUE = (
    r"(?:authentication|authorization|required|expired|invalid|incorrect|missing|mismatch"
    r"|changed|reset|policy|must|should|cannot|could|failed|from|with|does|will|would|file"
    r"|field|hash|hashing|length|provided|supplied|updated|rotation|rotated|store|manager"
    r"|prompt|protected|name|value|values|found|reference|mounted|volume|data|type|error"
    r"|check|changes|access|based|login|token|secret|password|version|have|were|that|this"
    r"|when|then|been|being|need|needs|needed|rules|salt|strength|reuse|expiry|expires"
    r"|unchanged|accepted|rejected|verified|verification|matches|match|correct|entered"
    r"|given|used|using|auth)\b"
)
# A line of a PEM body on its own (a key printed line by line): 64 or more base64
# characters mixing upper case, lower case and digits, which hex digests and paths do not.
_BASE64_RUN = (
    r"(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[0-9])"
    r"[A-Za-z0-9+/]{64,}={0,2}(?![A-Za-z0-9+/=])"
)

# Each pattern's first group, when present, is kept so the reader still sees what kind of
# secret was there; everything else in the match is replaced.
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        "[redacted private key]",
    ),
    (re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{20,}"), r"\1[redacted]"),
    (re.compile(r"\b(github_pat_)[A-Za-z0-9_]{20,}"), r"\1[redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted JWT]"),
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1\2[redacted]"),
    (re.compile(r"(?i)(x-access-token:)[^@\s/]+@"), r"\1[redacted]@"),
    (re.compile(r"(?i)(://[^:@/\s]+:)[^@/\s]+@"), r"\1[redacted]@"),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), r"\1[redacted]"),
    (
        re.compile(
            rf"(?i)\b([A-Z0-9_.-]*{_SECRET_KEY}[A-Z0-9_.-]*[\"']?\s*[=:]\s*[\"']?)"
            r"(?!\[redacted)[^\s\"',;]{4,}"
        ),
        r"\1[redacted]",
    ),
    (
        re.compile(
            rf"(?i)\b({_SPACED_KEY})(\s+(?:is\s+|was\s+)?)(?!{_NOT_A_VALUE})(?!\[redacted)"
            r"[^\s\"',;]{4,}"
        ),
        r"\1\2[redacted]",
    ),
    (re.compile(r"\b(xox[abposr]-)[A-Za-z0-9-]{10,}"), r"\1[redacted]"),
    (re.compile(_BASE64_RUN), "[redacted]"),
)


def redact(text: str, known: KnownSecrets = KNOWN_SECRETS) -> str:
    """Mask the secrets the bot knows (``known``, exactly) and whatever looks like one:
    tokens, JWTs, credentials in URLs, ``name: value`` pairs with a secret's name, PEM
    private keys and their bare base64 lines, AWS keys.

    Known values go first, so that a pattern cannot mask half of one and leave the rest,
    and last, so that no rewrite by a pattern can leave one standing."""
    text = known.mask(text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return known.mask(text)


def printable(text: str, limit: int = 60) -> str:
    """``text`` on one line with control characters spelled out, cut to ``limit`` chars."""
    shown = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def inline_code(text: str, limit: int = 60) -> str:
    """``text`` as a Markdown code span that no backtick inside it can close early."""
    shown = printable(redact(text), limit)
    runs = [len(run) for run in re.findall(r"`+", shown)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def code_block(lines: Sequence[str]) -> str:
    """Lines as a fenced block whose fence is longer than any backtick run in them."""
    body = "\n".join(lines)
    runs = [len(run) for run in re.findall(r"`{3,}", body)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}\n{body}\n{fence}"


def table_cell(text: str | None) -> str:
    """A value safe inside a Markdown table cell; empty values show as an en dash."""
    if not text:
        return EMPTY
    return " ".join(redact(text).split()).replace("|", "\\|")


def marker(command_id: str) -> str:
    """The hidden HTML comment that marks the bot's comment for one command."""
    if not COMMAND_ID.match(command_id):
        raise ValueError("command id must be 1-64 characters of letters, digits, '.', '_', '-'")
    return f"<!-- autostack:command id={command_id} -->"


def find_command_id(body: str) -> str | None:
    """The command id in a comment the bot wrote, or None for anyone else's comment."""
    found = MARKER.search(body)
    return found.group(1) if found else None


def elapsed(duration: timedelta | None) -> str:
    """A duration as ``42s``, ``3m 05s`` or ``1h 02m``."""
    if duration is None:
        return EMPTY
    seconds = max(0, int(duration.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def short_sha(sha: str | None) -> str | None:
    return sha[:7] if sha else None


@dataclass(frozen=True)
class EnvRow:
    """One environment's line in a progress comment, as Argo CD and git report it."""

    environment: str
    image: str | None = None
    sync: str | None = None  # Argo CD sync status: Synced, OutOfSync, Unknown
    health: str | None = None  # Argo CD health: Healthy, Progressing, Degraded, ...
    revision: str | None = None  # the GitOps revision Argo CD has synced
    elapsed: timedelta | None = None


@dataclass(frozen=True)
class Failure:
    """What Argo CD and the cluster said about a failed deployment."""

    reason: str
    unhealthy: tuple[str, ...] = ()  # "Deployment/shop: Degraded - ..." lines
    events: tuple[str, ...] = ()
    container: str | None = None  # "pod/container" whose log tail follows
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """Everything one command's comment shows at one moment."""

    command_id: str
    command: str  # the command line as parsed, e.g. "/deploy prod"
    requested_by: str
    state: State
    rows: tuple[EnvRow, ...] = ()
    queued_behind: int | None = None  # the PR or issue whose deployment holds the lock
    build_sha: str | None = None
    build_url: str | None = None
    change_url: str | None = None  # the GitOps commit or pull request
    timeout: timedelta | None = None
    failure: Failure | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


_HEADLINES: dict[State, tuple[str, str]] = {
    State.QUEUED: ("⏳", "queued"),
    State.WAITING_FOR_BUILD: ("🔨", "waiting for the build"),
    State.COMMITTING: ("📝", "committing"),
    State.SYNCING: ("🔄", "syncing"),
    State.SUCCEEDED: ("✅", "deployed"),
    State.FAILED: ("❌", "failed"),
    State.SUPERSEDED: ("⏭️", "superseded"),
    State.TIMED_OUT: ("⌛", "timed out"),
}


def progress_comment(progress: Progress) -> str:
    """The single comment for a command, rewritten in place at every state change."""
    icon, word = _HEADLINES[progress.state]
    parts = [
        marker(progress.command_id),
        f"### {icon} {inline_code(progress.command)}: {word}",
        f"Requested by @{_login(progress.requested_by)}. {_state_sentence(progress)}",
    ]
    if progress.rows:
        parts.append(_table(progress.rows))
    parts.extend(redact(note) for note in progress.notes)
    if progress.failure is not None:
        parts.extend(_failure_sections(progress.failure))
    return "\n\n".join(parts) + "\n"


def _state_sentence(progress: Progress) -> str:
    sha = inline_code(short_sha(progress.build_sha) or "?")
    change = _link("GitOps change", progress.change_url)
    if progress.state is State.QUEUED:
        if progress.queued_behind is None:
            return "Waiting for the lock on this environment."
        return (
            f"Queued behind #{progress.queued_behind}: one deployment per environment runs "
            "at a time, and this one starts when that one finishes."
        )
    if progress.state is State.WAITING_FOR_BUILD:
        run = _link("build run", progress.build_url)
        return f"Waiting for the build of {sha}{run}; the deployment starts when it succeeds."
    if progress.state is State.COMMITTING:
        return "Writing the change to the GitOps repository."
    if progress.state is State.SYNCING:
        return f"Committed{change}; waiting for Argo CD to sync it and report it healthy."
    if progress.state is State.SUCCEEDED:
        return f"Deployed{change}: Argo CD has synced it and the app is healthy."
    if progress.state is State.SUPERSEDED:
        return "A later deployment to this environment landed first; it is followed instead."
    if progress.state is State.TIMED_OUT:
        return f"Not synced and healthy within {_minutes(progress.timeout)}{change}."
    reason = progress.failure.reason if progress.failure else "the deployment failed"
    return _sentence(_upper_first(redact(reason))).removesuffix(".") + f"{change}."


def _link(text: str, url: str | None) -> str:
    """A parenthesised Markdown link to a URL the bot got from GitHub, or nothing."""
    if not url or not url.startswith(("https://", "http://")):
        return ""
    return f" ([{text}]({url.replace(')', '%29').replace(' ', '%20')}))"


def _minutes(timeout: timedelta | None) -> str:
    if timeout is None:
        return "the deploy timeout"
    minutes = int(timeout.total_seconds() // 60)
    if timeout.total_seconds() % 60:
        return elapsed(timeout)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _table(rows: Sequence[EnvRow]) -> str:
    lines = [
        "| Environment | Image | Sync | Health | Revision | Elapsed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        image = inline_code(short_image(row.image), 120) if row.image else None
        revision = inline_code(row.revision[:7]) if row.revision else None
        cells = [row.environment, image, row.sync, row.health, revision, elapsed(row.elapsed)]
        lines.append("| " + " | ".join(table_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _failure_sections(failure: Failure) -> list[str]:
    sections: list[str] = []
    if failure.unhealthy:
        sections.append(f"**Unhealthy resources**\n\n{_bullets(failure.unhealthy)}")
    if failure.events:
        sections.append(f"**Events**\n\n{_bullets(failure.events)}")
    if failure.log_tail:
        tail = failure.log_tail[-MAX_LOG_LINES:]
        lines = [printable(redact(line), MAX_LINE_CHARS) for line in tail]
        name = inline_code(failure.container) if failure.container else "the failing container"
        sections.append(f"**Last {len(lines)} log lines of {name}**\n\n{code_block(lines)}")
    return sections


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"- {printable(redact(line), MAX_LINE_CHARS)}" for line in lines)


def reply_comment(command_id: str, text: str) -> str:
    """A parser reply (help, usage, "did you mean") as the command's comment."""
    return f"{marker(command_id)}\n\n{text.rstrip()}\n"


def refusal_comment(command_id: str, command: str, requested_by: str, reason: str) -> str:
    """An authorization refusal: what was refused, for whom, and why."""
    return (
        f"{marker(command_id)}\n\n"
        f"### 🚫 {inline_code(command)}: refused\n\n"
        f"@{_login(requested_by)}, {_lower_first(_sentence(redact(reason)))}\n"
    )


def build_failed_comment(
    command_id: str, command: str, requested_by: str, sha: str, run_url: str | None
) -> str:
    """The image for the requested commit could not be built, so nothing was deployed."""
    run = _link("build run", run_url)
    return (
        f"{marker(command_id)}\n\n"
        f"### ❌ {inline_code(command)}: build failed\n\n"
        f"Requested by @{_login(requested_by)}. The build of {inline_code(sha[:7])} failed{run}, "
        "so nothing was deployed. Fix the build, then run the command again.\n"
    )


@dataclass(frozen=True)
class StatusRow:
    """One environment in a ``/status`` answer, from Argo CD's live state."""

    environment: str
    image: str | None
    revision: str | None
    sync: str | None
    health: str | None
    deployed_by: str | None = None
    deployed_at: datetime | None = None
    deployment_id: int | None = None
    hold: bool = False  # automatic deploys paused after a rollback


def status_comment(command_id: str, app: str, rows: Sequence[StatusRow]) -> str:
    """The answer to ``/status``: where each environment is, as Argo CD sees it now."""
    lines = [
        "| Environment | Image | Revision | Sync | Health | Last deployment |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [
            row.environment + (" (on hold)" if row.hold else ""),
            inline_code(short_image(row.image), 120) if row.image else None,
            inline_code(row.revision[:7]) if row.revision else None,
            row.sync,
            row.health,
            _last_deployment(row),
        ]
        lines.append("| " + " | ".join(table_cell(cell) for cell in cells) + " |")
    held = [row.environment for row in rows if row.hold]
    footer = ""
    if held:
        footer = (
            f"\n\nOn hold after a rollback: {', '.join(held)}. Automatic deploys resume after "
            "the next explicit `/deploy`."
        )
    table = "\n".join(lines)
    return f"{marker(command_id)}\n\n### Status of {inline_code(app)}\n\n{table}{footer}\n"


def _last_deployment(row: StatusRow) -> str | None:
    parts = []
    if row.deployment_id is not None:
        parts.append(f"d-{row.deployment_id}")
    if row.deployed_by:
        parts.append(f"by @{_login(row.deployed_by)}")
    if row.deployed_at is not None:
        parts.append(row.deployed_at.strftime("%Y-%m-%d %H:%M UTC"))
    return " ".join(parts) or None


def _login(login: str) -> str:
    # GitHub logins are letters, digits and hyphens; an App's bot user ends in "[bot]".
    bot = login.endswith("[bot]")
    name = re.sub(r"[^A-Za-z0-9-]", "", login.removesuffix("[bot]"))[:39] or "unknown"
    return f"{name}[bot]" if bot else name


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text
