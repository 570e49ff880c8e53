"""Deployment rows as values: create (idempotently), read, move between states, holds."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.store import DEPLOYMENT_STATES, DeploymentRow, HoldRow, Store

TERMINAL = frozenset({"succeeded", "failed", "superseded", "timed_out"})
IN_FLIGHT = frozenset({"committing", "awaiting_merge", "syncing"})


@dataclass(frozen=True)
class NewDeployment:
    """What a handler asks for; ``image`` None means "the image built from source_sha"."""

    kind: str  # deploy | promote | rollback | auto
    app: str
    env: str
    app_repo: str
    requested_by: str
    delivery_id: str
    source_sha: str | None = None
    image: str | None = None
    issue_number: int | None = None
    details: dict[str, Any] = field(default_factory=dict)  # command text, revert shas, ...


@dataclass(frozen=True)
class Deployment:
    id: int
    kind: str
    app: str
    env: str
    app_repo: str
    source_sha: str | None
    image: str | None
    requested_by: str
    delivery_id: str
    issue_number: int | None
    state: str
    message: str | None
    gitops_sha: str | None
    gitops_pr: int | None
    github_deployment_id: int | None
    check_run_id: int | None
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deadline: datetime | None
    finished_at: datetime | None

    @property
    def label(self) -> str:
        return f"d-{self.id}"

    @property
    def lock_key(self) -> str:
        return f"{self.app}/{self.env}"

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @property
    def command(self) -> str:
        return str(self.details.get("command") or f"{self.kind} {self.env}")


def _value(row: DeploymentRow) -> Deployment:
    return Deployment(**{f.name: getattr(row, f.name) for f in fields(Deployment)})


class DeploymentStore:
    """The ``deployments`` and ``holds`` tables; every method is one transaction."""

    def __init__(self, store: Store):
        self.store = store

    def create(self, new: NewDeployment, *, state: str, now: datetime) -> Deployment:
        """The deployment for (delivery, app, env): created once, found on a retry."""
        existing = self.for_delivery(new.delivery_id, new.app, new.env)
        if existing is not None:
            return existing
        row = DeploymentRow(
            kind=new.kind,
            app=new.app,
            env=new.env,
            app_repo=new.app_repo,
            source_sha=new.source_sha,
            image=new.image,
            requested_by=new.requested_by,
            delivery_id=new.delivery_id,
            issue_number=new.issue_number,
            state=state,
            details=dict(new.details),
            created_at=now,
            updated_at=now,
        )
        try:
            with self.store.write() as session:
                session.add(row)
                session.flush()
                return _value(row)
        except IntegrityError:  # another worker created it first
            found = self.for_delivery(new.delivery_id, new.app, new.env)
            assert found is not None
            return found

    def get(self, deployment_id: int) -> Deployment | None:
        with self.store.read() as session:
            row = session.get(DeploymentRow, deployment_id)
            return _value(row) if row else None

    def for_delivery(self, delivery_id: str, app: str, env: str) -> Deployment | None:
        query = select(DeploymentRow).where(
            DeploymentRow.delivery_id == delivery_id,
            DeploymentRow.app == app,
            DeploymentRow.env == env,
        )
        with self.store.read() as session:
            row = session.scalars(query).first()
            return _value(row) if row else None

    def update(self, deployment_id: int, now: datetime, **changes: Any) -> Deployment:
        with self.store.write() as session:
            row = session.get(DeploymentRow, deployment_id)
            if row is None:
                raise LookupError(f"no deployment d-{deployment_id}")
            if "details" in changes:
                changes["details"] = {**row.details, **changes["details"]}
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = now
            if changes.get("state") in TERMINAL and row.finished_at is None:
                row.finished_at = now
            return _value(row)

    def find(self, *, states: frozenset[str] | set[str], **equal: Any) -> list[Deployment]:
        """Deployments in ``states`` whose columns equal ``equal``, oldest first."""
        query = select(DeploymentRow).where(DeploymentRow.state.in_(sorted(states)))
        for column, value in equal.items():
            query = query.where(getattr(DeploymentRow, column) == value)
        with self.store.read() as session:
            return [_value(row) for row in session.scalars(query.order_by(DeploymentRow.id))]

    def recently_finished(self, limit: int = 50) -> list[Deployment]:
        """The most recently finished deployments, newest first: where a report cut short
        by a dying process is found (a finished deployment's report is due only until it is
        sent, moments later)."""
        query = (
            select(DeploymentRow)
            .where(DeploymentRow.finished_at.is_not(None))
            .order_by(DeploymentRow.finished_at.desc())
            .limit(limit)
        )
        with self.store.read() as session:
            return [_value(row) for row in session.scalars(query)]

    def latest(self, app: str, env: str, *, states: frozenset[str] | set[str]) -> Deployment | None:
        query = (
            select(DeploymentRow)
            .where(DeploymentRow.app == app, DeploymentRow.env == env)
            .where(DeploymentRow.state.in_(sorted(states)))
            .order_by(DeploymentRow.id.desc())
        )
        with self.store.read() as session:
            row = session.scalars(query).first()
            return _value(row) if row else None

    def newest_landed(
        self, pairs: set[tuple[str, str]], since: datetime | None = None
    ) -> dict[tuple[str, str], str]:
        """The GitOps commit of the newest landed deployment (latest deadline, then id) of
        each ``(app, env)`` in ``pairs``, in one query; ``since`` leaves out deployments
        whose deadline is earlier."""
        row = DeploymentRow
        query = select(row.app, row.env, row.deadline, row.id, row.gitops_sha).where(
            row.app.in_(sorted({app for app, _ in pairs})),
            row.state.in_(DEPLOYMENT_STATES),
            row.gitops_sha.is_not(None),
            row.deadline.is_not(None),
        )
        if since is not None:
            query = query.where(row.deadline >= since)
        newest: dict[tuple[str, str], tuple[datetime, int, str]] = {}
        with self.store.read() as session:
            for app, env, deadline, row_id, sha in session.execute(query):
                if (app, env) not in pairs or deadline is None or not sha:
                    continue
                best = newest.get((app, env))
                if best is None or (deadline, row_id) > best[:2]:
                    newest[(app, env)] = (deadline, row_id, sha)
        return {pair: sha for pair, (_, _, sha) in newest.items()}

    # -- holds -------------------------------------------------------------------------------

    def hold(self, app: str, env: str, *, reason: str, by: str, now: datetime) -> None:
        with self.store.write() as session:
            row = session.get(HoldRow, f"{app}/{env}")
            if row is None:
                session.add(HoldRow(key=f"{app}/{env}", reason=reason, set_by=by, set_at=now))
            else:
                row.reason, row.set_by, row.set_at = reason, by, now

    def release_hold(self, app: str, env: str) -> bool:
        with self.store.write() as session:
            row = session.get(HoldRow, f"{app}/{env}")
            if row is None:
                return False
            session.delete(row)
            return True

    def held(self, app: str, env: str) -> str | None:
        """The reason automatic deploys to ``app`` in ``env`` are paused, or None."""
        with self.store.read() as session:
            row = session.get(HoldRow, f"{app}/{env}")
            return row.reason if row else None
