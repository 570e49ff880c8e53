"""Pure helpers of the git adapter: reading ``git log`` and ``git push --porcelain`` output,
sorting git's failures into the error taxonomy, and keeping secrets out of error text.

Nothing here runs git, so all of it is tested with plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from bot.core.errors import AutostackError, PermanentError, TransientError
from bot.core.messages import redact
from bot.core.trailers import ROLLBACK_OF, parse_trailers

# Fields of one ``git log`` record, NUL-separated; the message comes last because it is the
# only field that may hold newlines (commit messages never contain NUL).
LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%B")
LOG_FORMAT = "%x00".join(LOG_FIELDS)
REVERTS_LINE = re.compile(r"^This reverts commit ([0-9a-f]{7,40})\.?\s*$", re.MULTILINE)
MAX_ERROR_CHARS = 600

# Push rejections that mean "someone else moved the ref first": fetch and try again. The
# last three are the server losing its own compare-and-swap to a push that came at once.
RACE_REASONS = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "failed to lock",
    "cannot lock ref",
    "but expected",
    "incorrect old value",
)
TRANSIENT_MARKERS = (
    "could not resolve host",
    "connection refused",
    "connection reset",
    "connection timed out",
    "operation timed out",
    "failed to connect",
    "timed out",
    "early eof",
    "the remote end hung up",
    "rpc failed",
    "http/2 stream",
    "gnutls",
    "ssl_read",
    "temporary failure",
    "try again",
    "returned error: 429",
)
HTTP_5XX = re.compile(r"returned error: 5\d\d")
AUTH_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "returned error: 401",
    "returned error: 403",
    "permission to",
    "invalid username or token",
)
MISSING_MARKERS = (
    "repository not found",
    "returned error: 404",
    "does not appear to be a git repository",
    "not found",
)


@dataclass(frozen=True)
class CommitInfo:
    """One commit as the history shows it; ``rollback_of`` lists what it reverts."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    date: datetime  # the author date, with git's offset
    subject: str
    message: str
    trailers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    rollback_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class PushOutcome:
    """What ``git push --porcelain`` said about our one ref."""

    ok: bool
    race: bool  # rejected because the remote moved: worth another attempt
    reason: str


def parse_log(output: str) -> list[CommitInfo]:
    """Commits from ``git log -z --format=LOG_FORMAT`` output, in git's order."""
    parts = output.split("\0")
    if parts and parts[-1] == "":
        parts.pop()  # -z terminates every record, the last one too
    width = len(LOG_FIELDS)
    if len(parts) % width:
        raise PermanentError(f"unexpected git log output: {len(parts)} fields")
    return [_commit(parts[i : i + width]) for i in range(0, len(parts), width)]


def _commit(fields: Sequence[str]) -> CommitInfo:
    sha, parents, name, email, date, message = fields
    message = message.strip("\n")
    trailers = parse_trailers(message)
    reverted = [s.lower() for s in trailers.get(ROLLBACK_OF, ())]
    # A hand-made ``git revert`` carries no trailer, only git's own sentence.
    for short in REVERTS_LINE.findall(message):
        if not any(known.startswith(short) or short.startswith(known) for known in reverted):
            reverted.append(short)
    return CommitInfo(
        sha=sha,
        parents=tuple(parents.split()),
        author_name=name,
        author_email=email,
        date=datetime.fromisoformat(date),
        subject=message.split("\n", 1)[0],
        message=message,
        trailers=trailers,
        rollback_of=tuple(reverted),
    )


def matches(commit: CommitInfo, wanted: Mapping[str, str]) -> bool:
    """Whether every ``key: value`` of ``wanted`` is among the commit's trailers."""
    return all(value in commit.trailers.get(key, ()) for key, value in wanted.items())


def parse_push(stdout: str, ref: str, stderr: str = "") -> PushOutcome:
    """The porcelain line for ``ref``: ``<flag>\\t<from>:<to>\\t<summary> (<reason>)``;
    ``stderr`` holds the server's own words when it rejected the update."""
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[1].endswith(f":{ref}"):
            continue
        flag, summary = fields[0], fields[2]
        if flag != "!":
            return PushOutcome(ok=True, race=False, reason=summary)
        said = f"{summary}\n{stderr}".lower()
        return PushOutcome(ok=False, race=any(r in said for r in RACE_REASONS), reason=summary)
    return PushOutcome(ok=False, race=False, reason="git push did not report the ref")


def classify(what: str, stderr: str, secrets: Iterable[str] = ()) -> AutostackError:
    """The taxonomy error for a failed git call, with ``stderr`` scrubbed of secrets."""
    detail = scrub(stderr, secrets)
    lower = stderr.lower()
    message = f"{what} failed: {detail}" if detail else f"{what} failed"
    if HTTP_5XX.search(lower) or any(marker in lower for marker in TRANSIENT_MARKERS):
        return TransientError(message)
    if any(marker in lower for marker in AUTH_MARKERS):
        return PermanentError(
            message,
            hint="check that the App is installed on the repository with contents: write",
        )
    if any(marker in lower for marker in MISSING_MARKERS):
        return PermanentError(message, hint="check the repository's clone URL and the App's access")
    return PermanentError(message)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` on a few lines with every known secret and token-looking string masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = redact(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # git's hints are advice for a person at a terminal, not for our operator.
    lines = [line for line in lines if not line.startswith("hint:")]
    joined = " | ".join(lines)
    return joined if len(joined) <= MAX_ERROR_CHARS else joined[: MAX_ERROR_CHARS - 1] + "…"


def safe_path(path: str) -> str:
    """``path`` as a clean relative POSIX path inside a work tree, never into ``.git``."""
    pure = PurePosixPath(path)
    parts = pure.parts
    if (
        not path
        or pure.is_absolute()
        or not parts
        or any(part in ("..", ".") for part in parts)
        or parts[0] == ".git"
        or "\0" in path
        or "\\" in path
    ):
        raise PermanentError(f"refusing the repository path {path!r}")
    return str(pure)


def without_credentials(url: str) -> str:
    """Refuse a remote URL with user info: the token travels by askpass, never in a URL
    (which git would store in ``.git/config`` and print in errors)."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0] if sep else ""
    if "@" in authority and scheme.lower() in ("http", "https"):
        raise PermanentError(
            "the repository URL carries credentials",
            hint="pass the clone_url from the GitHub API; the token provider supplies the token",
        )
    return url
