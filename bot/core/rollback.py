"""Rollback planning: which GitOps deploy commits to revert, read from their history.

The history of one app and environment, newest first, is enough to know which deploys
are still in effect (not undone by a revert that is itself in effect). ``/rollback`` with
no target undoes the latest deploy; with a target it undoes every deploy in effect that is
newer than the target. Planning again after the revert landed finds nothing to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.commands import Reply, RollbackTarget
from bot.core.trailers import (
    APP,
    ENV,
    IMAGE,
    ROLLBACK_OF,
    SOURCE_SHA,
    first,
    parse_trailers,
    short_image,
)

REVERTS_LINE = re.compile(r"^This reverts commit ([0-9a-f]{7,40})\.?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class HistoryEntry:
    """One GitOps commit touching the app's overlay for the environment."""

    sha: str
    trailers: Mapping[str, Sequence[str]]
    reverts: tuple[str, ...] = ()  # the commits this one reverts
    deployment_id: int | None = None  # the bot's id for a deploy commit, when it has one

    @classmethod
    def from_message(cls, sha: str, message: str, deployment_id: int | None = None) -> HistoryEntry:
        """Read trailers and reverted commits from a commit message, ours or ``git revert``'s."""
        trailers = parse_trailers(message)
        reverts = list(trailers.get(ROLLBACK_OF, ()))
        reverts += [found for found in REVERTS_LINE.findall(message) if found not in reverts]
        return cls(sha.lower(), trailers, tuple(s.lower() for s in reverts), deployment_id)

    @property
    def image(self) -> str | None:
        return first(self.trailers, IMAGE)

    @property
    def is_deploy(self) -> bool:
        return self.image is not None and not self.reverts

    def describe(self) -> str:
        label = f"d-{self.deployment_id} " if self.deployment_id is not None else ""
        return f"{label}`{short_image(self.image or '?')}` (commit `{self.sha[:7]}`)"


@dataclass(frozen=True)
class RollbackPlan:
    """Revert ``commits_to_revert`` (newest first) in one commit; ``target`` is current after."""

    commits_to_revert: tuple[str, ...]
    target_image: str
    target: HistoryEntry


def plan_rollback(
    history: Sequence[HistoryEntry],
    *,
    app: str,
    env: str,
    target: RollbackTarget | None = None,
) -> RollbackPlan | Reply:
    """Plan ``/rollback <env> [<target>]`` over ``history`` (newest first)."""
    mine = [entry for entry in history if _belongs(entry, app, env)]
    undone = _undone(mine)
    deploys = [entry for entry in mine if entry.is_deploy]
    if not deploys:
        return Reply(f"Nothing to roll back: AutoStack has not deployed {app} to {env}.", "invalid")
    live = [entry for entry in deploys if entry.sha not in undone]
    if target is None:
        return _plan_latest(deploys, live, undone, env)
    chosen = _find(deploys, live, target)
    if isinstance(chosen, Reply):
        return chosen
    if chosen.sha in undone:
        return Reply(
            f"{chosen.describe()} was itself reverted by `{undone[chosen.sha][:7]}`, so rolling "
            f"back cannot return to it; deploy it again with `/deploy {env} <ref>` instead.",
            "invalid",
        )
    newer = [entry for entry in live if deploys.index(entry) < deploys.index(chosen)]
    if not newer:
        return _already_there(chosen, deploys, env)
    return RollbackPlan(tuple(e.sha for e in newer), chosen.image or "", chosen)


def _belongs(entry: HistoryEntry, app: str, env: str) -> bool:
    # Entries without the trailer (a hand-made revert) are trusted to be the caller's.
    entry_app, entry_env = first(entry.trailers, APP), first(entry.trailers, ENV)
    return entry_app in (None, app) and entry_env in (None, env)


def _undone(history: Sequence[HistoryEntry]) -> dict[str, str]:
    """Commits reverted by a revert that is itself in effect, mapped to that revert."""
    undone: dict[str, str] = {}
    for entry in history:  # newest first, so a revert is seen before what it reverts
        if entry.sha in undone:
            continue  # a reverted revert undoes nothing
        for sha in entry.reverts:
            reverted = next((e.sha for e in history if e.sha.startswith(sha)), sha)
            undone.setdefault(reverted, entry.sha)
    return undone


def _plan_latest(
    deploys: list[HistoryEntry], live: list[HistoryEntry], undone: dict[str, str], env: str
) -> RollbackPlan | Reply:
    latest = deploys[0]
    if latest.sha in undone:
        current = f" than {live[0].describe()}" if live else ""
        return Reply(
            f"Nothing to roll back in {env}: every deployment newer{current} is already "
            f"reverted. To go further back, name a target: `/rollback {env} <target>`.",
            "invalid",
        )
    earlier = [entry for entry in live if entry is not latest]
    if not earlier:
        return Reply(
            f"Nothing to roll back to: {env} is at its first deployment, {latest.describe()}.",
            "invalid",
        )
    return RollbackPlan((latest.sha,), earlier[0].image or "", earlier[0])


def _find(
    deploys: list[HistoryEntry], live: list[HistoryEntry], target: RollbackTarget
) -> HistoryEntry | Reply:
    if target.kind == "deployment":
        matches = [e for e in deploys if e.deployment_id == target.deployment_id]
    elif target.kind == "sha":
        matches = [e for e in deploys if e.sha.startswith(target.value)]
        if len(matches) > 1:
            return Reply(
                f"`{target.value}` matches {len(matches)} GitOps commits; give more digits.",
                "invalid",
            )
        if not matches:  # the app commit the image was built from
            matches = [e for e in deploys if _source_matches(e, target.value)]
    else:
        matches = [e for e in deploys if _tag(e.image or "") == target.value]
    if not matches:
        return Reply(
            f"No deployment matches `{target}`. Name one by its id from `/status` (such as "
            "`d-42`), its GitOps or app commit sha, or its image tag.",
            "invalid",
        )
    # The same image may have been deployed more than once: the newest still in effect wins.
    in_effect = [e for e in matches if e in live]
    return (in_effect or matches)[0]


def _source_matches(entry: HistoryEntry, prefix: str) -> bool:
    source = (first(entry.trailers, SOURCE_SHA) or "").lower()
    return source.startswith(prefix) or _tag(entry.image or "").lower().startswith(prefix)


def _tag(image: str) -> str:
    _, sep, tag = image.rpartition(":")
    return tag if sep and "/" not in tag else ""


def _already_there(chosen: HistoryEntry, deploys: list[HistoryEntry], env: str) -> Reply:
    if deploys.index(chosen) > 0:
        return Reply(
            f"Nothing to roll back in {env}: every deployment newer than {chosen.describe()} "
            "is already reverted.",
            "invalid",
        )
    return Reply(f"Nothing to roll back: {env} is already at {chosen.describe()}.", "invalid")
