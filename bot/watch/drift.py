"""Drift: an Application OutOfSync with no deployment in flight for longer than a threshold
gets one issue on its app repository, updated in place and closed once it is back in sync.

What the watcher knows (since when, whether the issue is open, what it said last) is in
the ``drift`` table, so a restart neither reopens nor forgets anything, and GitHub is
called only when that changes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.core.argo import AppStatus
from bot.core.errors import AutostackError
from bot.core.follow import DriftAction, DriftVerdict, drift
from bot.deploy.records import IN_FLIGHT, DeploymentStore
from bot.ports import GitHub
from bot.services import APP_LABEL, SOURCE_REPO_ANNOTATION
from bot.store import DriftRow, Store
from bot.watch.observe import Observation

log = logging.getLogger(__name__)
ENV_LABEL = "autostack.dev/env"


@dataclass
class Known:
    """One Application's row of the ``drift`` table, as values."""

    since: datetime | None = None
    issue_open: bool = False
    digest: str | None = None


class DriftWatch:
    def __init__(self, store: Store, github: GitHub, threshold: timedelta):
        self.store = store
        self.records = DeploymentStore(store)
        self.github = github
        self.threshold = threshold
        self._unattributed: set[str] = set()  # Applications already logged as without a repo

    def check(self, seen: Observation) -> None:
        """Judge every AutoStack Application once; act where the verdict changed anything."""
        known = self._load()
        in_flight = {(d.app, d.env) for d in self.records.find(states=IN_FLIGHT)}
        for status in seen.applications().values():
            labels = status.labels or {}
            app = labels.get(APP_LABEL)
            if not app:
                continue
            env = labels.get(ENV_LABEL) or status.name.removeprefix(f"{app}-")
            before = known.get(status.name, Known())
            verdict = drift(status, (app, env) in in_flight, before.since, seen.now, self.threshold)
            after = self._act(status, app, env, verdict, before)
            if after != before:
                self._save(status.name, after, seen.now)

    def _act(
        self, status: AppStatus, app: str, env: str, verdict: DriftVerdict, before: Known
    ) -> Known:
        after = Known(verdict.out_of_sync_since, before.issue_open, before.digest)
        if verdict.action is DriftAction.NONE:
            return after
        repo = (status.annotations or {}).get(SOURCE_REPO_ANNOTATION)
        if not repo:
            if status.name not in self._unattributed:
                log.warning("drift: %s has no %s annotation", status.name, SOURCE_REPO_ANNOTATION)
                self._unattributed.add(status.name)
            return after
        marker = f"drift:{app}-{env}"
        try:
            if verdict.action is DriftAction.CLOSE:
                if before.issue_open:
                    self.github.close_issue(repo, marker)
                return Known(None, False, None)
            body = issue_body(status, verdict)
            digest = hashlib.sha256(body.encode()).hexdigest()
            if not before.issue_open or digest != before.digest:
                self.github.open_or_update_issue(repo, marker, issue_title(app, env), body)
            return Known(verdict.out_of_sync_since, True, digest)
        except AutostackError as exc:
            log.warning("drift: cannot update the issue for %s: %s", status.name, exc.message)
            return after  # unchanged issue state: tried again next time

    def _load(self) -> dict[str, Known]:
        with self.store.read() as session:
            rows = session.scalars(select(DriftRow)).all()
            return {
                r.application: Known(r.out_of_sync_since, r.issue_open, r.issue_digest)
                for r in rows
            }

    def _save(self, application: str, known: Known, now: datetime) -> None:
        with self.store.write() as session:
            row = session.get(DriftRow, application)
            if row is None:
                row = DriftRow(application=application)
                session.add(row)
            row.out_of_sync_since, row.issue_open = known.since, known.issue_open
            row.issue_digest, row.updated_at = known.digest, now


def issue_title(app: str, env: str) -> str:
    return f"{app} in {env} has drifted from the GitOps repository"


def issue_body(status: AppStatus, verdict: DriftVerdict) -> str:
    """The issue text: what drifted and how to settle it; stable while nothing changes."""
    resources = "\n".join(f"- `{ref}`" for ref in verdict.resources) or "- (Argo CD names none)"
    return (
        f"{verdict.summary}.\n\n"
        f"**Out of sync**\n\n{resources}\n\n"
        "Nothing AutoStack deployed explains it. Either commit the change to the GitOps "
        f"repository, or sync `{status.name}` in Argo CD to put back what git says. "
        "AutoStack closes this issue when the Application is in sync again.\n"
    )
