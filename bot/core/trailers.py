"""Commit messages for GitOps deployments and rollbacks, with machine-readable trailers.

The trailers (DESIGN.md) make the GitOps history the record of who deployed what, from
where, and what a rollback reverted. Messages are in git's trailer format, so
``git interpret-trailers --parse`` and ``git log --format=%(trailers)`` read them too.
Every value is flattened to one line first: a user-controlled value cannot add a trailer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

APP = "Autostack-App"
ENV = "Autostack-Env"
IMAGE = "Autostack-Image"
SOURCE_REPO = "Autostack-Source-Repo"
SOURCE_SHA = "Autostack-Source-Sha"
REQUESTED_BY = "Autostack-Requested-By"
DELIVERY = "Autostack-Delivery"
ROLLBACK_OF = "Autostack-Rollback-Of"
KEYS = (APP, ENV, IMAGE, SOURCE_REPO, SOURCE_SHA, REQUESTED_BY, DELIVERY, ROLLBACK_OF)

MAX_VALUE_CHARS = 200
MAX_SUBJECT_CHARS = 120
TRAILER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
DIVIDER = re.compile(r"^---(?:\s|$)")  # git's patch divider: trailers are looked for above it
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_CANONICAL = {key.lower(): key for key in KEYS}


def one_line(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``value`` on one line: whitespace runs (newlines too) become one space, and control
    characters go."""
    flat = " ".join(value.split())
    flat = "".join(ch for ch in flat if ch.isprintable())
    return flat[:limit]


def short_image(image: str) -> str:
    """An image reference for a subject line: a full commit sha tag shortened to 7."""
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag and FULL_SHA.match(tag):
        return f"{name}:{tag[:7]}"
    return image


def deploy_message(
    *,
    app: str,
    env: str,
    image: str,
    source_repo: str,
    source_sha: str,
    requested_by: str,
    delivery: str,
    body: str | None = None,
) -> str:
    """The message of the commit that deploys ``image`` to ``env``."""
    subject = f"deploy {one_line(app)} to {one_line(env)}: {short_image(one_line(image))}"
    trailers = [
        (APP, app),
        (ENV, env),
        (IMAGE, image),
        (SOURCE_REPO, source_repo),
        (SOURCE_SHA, source_sha),
        (REQUESTED_BY, requested_by),
        (DELIVERY, delivery),
    ]
    return _message(subject, body, trailers)


def rollback_message(
    *,
    app: str,
    env: str,
    reverted: Sequence[str],
    target_image: str,
    requested_by: str,
    delivery: str,
    source_repo: str | None = None,
    source_sha: str | None = None,
    body: str | None = None,
) -> str:
    """The message of the commit that reverts ``reverted`` (newest first) in ``env``."""
    if not reverted:
        raise ValueError("a rollback reverts at least one commit")
    subject = (
        f"roll back {one_line(app)} in {one_line(env)} to {short_image(one_line(target_image))}"
    )
    # git revert's own wording, so people and tools that know it read these too.
    reverts = "\n".join(f"This reverts commit {one_line(sha)}." for sha in reverted)
    full_body = f"{reverts}\n\n{body}" if body and body.strip() else reverts
    trailers: list[tuple[str, str]] = [(APP, app), (ENV, env), (IMAGE, target_image)]
    if source_repo:
        trailers.append((SOURCE_REPO, source_repo))
    if source_sha:
        trailers.append((SOURCE_SHA, source_sha))
    trailers += [(REQUESTED_BY, requested_by), (DELIVERY, delivery)]
    trailers += [(ROLLBACK_OF, sha) for sha in reverted]
    return _message(subject, full_body, trailers)


def _message(subject: str, body: str | None, trailers: Sequence[tuple[str, str]]) -> str:
    lines = [f"{key}: {_value(key, value)}" for key, value in trailers]
    parts = [one_line(subject, MAX_SUBJECT_CHARS)]
    if body and body.strip():
        parts.append(_safe_body(body))
    parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _value(key: str, value: str) -> str:
    flat = one_line(value)
    if not flat:
        raise ValueError(f"trailer {key} needs a value")
    return flat


def _safe_body(body: str) -> str:
    """Free text that cannot end the message early or be read as the trailer block."""
    lines = []
    for line in body.strip().splitlines():
        line = "".join(ch for ch in line.rstrip() if ch.isprintable() or ch == "\t")
        # A "---" line is git's patch divider; indenting it keeps the trailers below visible.
        lines.append(f" {line}" if DIVIDER.match(line) else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def parse_trailers(message: str) -> dict[str, list[str]]:
    """The trailers of a commit message, as git finds them: the last paragraph (never the
    subject), above any ``---`` divider, when every line in it is a trailer."""
    lines = message.splitlines()
    end = next((i for i, line in enumerate(lines) if i > 0 and DIVIDER.match(line)), len(lines))
    lines = [line for line in lines[:end] if not line.startswith("#")]
    while lines and not lines[-1].strip():
        lines.pop()
    start = len(lines)
    while start > 0 and lines[start - 1].strip():
        start -= 1
    if start == 0:
        return {}  # only a subject paragraph: the title is never trailers
    return _trailer_block(lines[start:])


def _trailer_block(block: Sequence[str]) -> dict[str, list[str]]:
    pairs: list[tuple[str, str]] = []
    for line in block:
        if line[:1] in (" ", "\t") and pairs:
            key, value = pairs[-1]
            pairs[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        found = TRAILER_LINE.match(line)
        if found is None:
            return {}
        key = _CANONICAL.get(found.group(1).lower(), found.group(1))
        pairs.append((key, found.group(2).strip()))
    result: dict[str, list[str]] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def first(trailers: Mapping[str, Sequence[str]], key: str) -> str | None:
    """The first value of ``key``, or None."""
    values = trailers.get(key)
    return values[0] if values else None
