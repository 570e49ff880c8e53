"""The application controller: poll the repo, compare, auto-sync, run sync operations.

Slow work (git, kustomize) runs under ``_work`` without holding ``lock``, so API reads stay
fast; every mutation of a record happens under ``lock`` and ends with ``_publish``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.argocd import syncresult
from sandbox.argocd.appview import application_json, fingerprint
from sandbox.argocd.clock import Clock, SystemClock, k8s_time
from sandbox.argocd.cluster import ClusterView, observe
from sandbox.argocd.discovery import discover
from sandbox.argocd.gitmirror import GitMirror, RepoCredentials, RepoError
from sandbox.argocd.model import AppRecord, LiveState, PendingSync, Scenarios
from sandbox.argocd.podsim import make_event
from sandbox.argocd.render import Rendered, render_path

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
MAX_EVENTS = 200
RENDER_CACHE = 256


class Snapshot:
    """The mirror at one commit, as discovery reads it."""

    def __init__(self, mirror: GitMirror, sha: str):
        self.mirror, self.sha = mirror, sha

    def files(self, prefix: str = "") -> list[str]:
        return self.mirror.files(self.sha, prefix)

    def directories(self) -> list[str]:
        return self.mirror.directories(self.sha)

    def read(self, path: str) -> str:
        return self.mirror.read(self.sha, path)


class Controller:
    def __init__(
        self,
        data_dir: Path,
        repo_url: str,
        credentials: RepoCredentials | None,
        poll_interval: float,
        progressing_seconds: float,
        clock: Clock | None,
    ):
        self.clock: Clock = clock or SystemClock()
        self.poll_interval = poll_interval
        self.progressing_seconds = progressing_seconds
        self.scenarios = Scenarios()
        self.mirror = GitMirror(Path(data_dir) / "gitops.git", repo_url, credentials)
        self.records: dict[str, AppRecord] = {}
        self.repo_error: str | None = None
        self.lock = threading.RLock()
        self._work = threading.RLock()
        self._listeners: list[Listener] = []
        self._renders: dict[tuple[str, str, bool], Rendered] = {}
        self._next_poll: datetime | None = None
        self._versions = itertools.count(1)

    # ---- listeners -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self.lock:
            self._listeners.append(listener)
        return lambda: self._unsubscribe(listener)

    def _unsubscribe(self, listener: Listener) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, kind: str, app: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, app)
            except Exception:  # a broken stream must not stop the controller
                log.exception("watch listener failed")

    def view(self, rec: AppRecord) -> ClusterView:
        return observe(
            rec.name, rec.live, self.clock.now(), self.progressing_seconds, self.scenarios
        )

    def _publish(self, rec: AppRecord, kind: str = "MODIFIED") -> None:
        app = application_json(rec, self.view(rec))
        print_ = fingerprint(app)
        if print_ == rec.published and kind == "MODIFIED":
            return
        rec.published = print_
        rec.resource_version = next(self._versions)
        app["metadata"]["resourceVersion"] = str(rec.resource_version)
        self._emit(kind, app)

    def _event(self, rec: AppRecord, reason: str, message: str, warning: bool = False) -> None:
        involved = {
            "kind": "Application",
            "namespace": "argocd",
            "name": rec.name,
            "uid": rec.uid,
            "apiVersion": "argoproj.io/v1alpha1",
        }
        event = make_event(
            involved,
            reason,
            message,
            self.clock.now(),
            warning=warning,
            component="argocd-application-controller",
        )
        rec.events = [*rec.events, event][-MAX_EVENTS:]

    # ---- the loop ------------------------------------------------------------------------
    def tick(self, force_poll: bool = False) -> None:
        """One controller pass: poll when due, run requested syncs, advance rollouts."""
        with self._work:
            now = self.clock.now()
            if force_poll or self._next_poll is None or now >= self._next_poll:
                self._poll()
            with self.lock:
                waiting = [
                    r.name for r in self.records.values() if r.pending and not r.pending.started_at
                ]
            for name in waiting:
                self._run_sync(name)
            self._advance()

    def _poll(self) -> None:
        self._next_poll = self.clock.now() + timedelta(seconds=self.poll_interval)
        try:
            self.mirror.fetch()
            head = self.mirror.resolve("HEAD")
            found = discover(Snapshot(self.mirror, head))
        except RepoError as exc:
            log.warning("cannot read the GitOps repository: %s", exc)
            self.repo_error = str(exc)
            return
        self.repo_error = None
        for error in found.errors:
            log.warning("discovery: %s", error)
        self._update_records(found.applications)
        for name in list(self.records):
            self._reconcile(name)

    def _update_records(self, manifests: list[dict[str, Any]]) -> None:
        with self.lock:
            wanted = {m["metadata"]["name"]: m for m in manifests}
            for name in [n for n in self.records if n not in wanted]:
                self._publish(self.records.pop(name), "DELETED")
            for name, manifest in wanted.items():
                known = self.records.get(name)
                if known is None:
                    created = AppRecord(
                        manifest=manifest, uid=str(uuid.uuid4()), created_at=self.clock.now()
                    )
                    self.records[name] = created
                    self._publish(created, "ADDED")
                    continue
                rec = known
                if rec.manifest != manifest:
                    rec.manifest = manifest
                    rec.generation += 1
                    self._publish(rec)

    # ---- comparison ----------------------------------------------------------------------
    def _render(self, sha: str, rec: AppRecord) -> Rendered:
        source = rec.source
        path = str(source.get("path") or ".")
        recurse = bool((source.get("directory") or {}).get("recurse"))
        key = (sha, path, recurse)
        if key not in self._renders:
            if len(self._renders) >= RENDER_CACHE:
                self._renders.pop(next(iter(self._renders)))
            self._renders[key] = render_path(self.mirror, sha, path, recurse)
        return self._renders[key]

    def _target(self, rec: AppRecord, revision: str) -> tuple[str | None, Rendered]:
        try:
            sha = self.mirror.resolve(revision)
        except RepoError as exc:
            return None, Rendered(error=str(exc))
        return sha, self._render(sha, rec)

    def _reconcile(self, name: str) -> None:
        with self.lock:
            rec = self.records.get(name)
            if rec is None or self.scenarios.stale_status:
                return
            revision = str(rec.source.get("targetRevision") or "HEAD")
        sha, rendered = self._target(rec, revision)
        with self.lock:
            if sha is not None:
                rec.target_sha = sha
            rec.target = rendered
            self._compare(rec)
            self._maybe_auto_sync(rec)
            self._publish(rec)

    def _compare(self, rec: AppRecord) -> None:
        now = self.clock.now()
        rec.reconciled_at = now
        target = rec.target
        if target is None or target.error is not None:
            rec.sync_status = "Unknown"
            error = target.error if target and target.error else "no target state"
            message = syncresult.comparison_message(error)
            self._set_condition(rec, "ComparisonError", message)
            return
        self._set_condition(rec, "ComparisonError", None)
        wanted = syncresult.keyed(target.objects, rec.destination_namespace)
        live = rec.live.objects if rec.live else {}
        before = rec.sync_status
        rec.sync_status = "Synced" if syncresult.is_synced(wanted, live) else "OutOfSync"
        if before != rec.sync_status and before != "Unknown":
            self._event(
                rec, "ResourceUpdated", f"Updated sync status: {before} -> {rec.sync_status}"
            )

    def _set_condition(self, rec: AppRecord, kind: str, message: str | None) -> None:
        kept = [c for c in rec.conditions if c["type"] != kind]
        old = next((c for c in rec.conditions if c["type"] == kind), None)
        if message is not None:
            since = old["lastTransitionTime"] if old and old["message"] == message else None
            kept.append(
                {
                    "type": kind,
                    "message": message,
                    "lastTransitionTime": since or k8s_time(self.clock.now()),
                }
            )
        rec.conditions = kept

    # ---- sync ----------------------------------------------------------------------------
    def _maybe_auto_sync(self, rec: AppRecord) -> None:
        automated = rec.automated
        if automated is None or rec.pending is not None or rec.sync_status != "OutOfSync":
            return
        sha = rec.target_sha or ""
        if rec.last_auto_sync and rec.last_auto_sync[0] == sha:
            if rec.last_auto_sync[1] != "Succeeded" and rec.operation_state:
                message = f"Failed sync attempt to {sha}: {rec.operation_state.get('message', '')}"
                self._set_condition(rec, "SyncError", message)
            return
        prune = bool(automated.get("prune"))
        operation = {
            "sync": {"revision": sha, "prune": prune, "syncStrategy": {"hook": {}}},
            "initiatedBy": {"automated": True},
            "retry": {},
        }
        rec.pending = PendingSync(operation=operation, revision=sha, prune=prune)
        self._event(rec, "OperationStarted", f"Initiated automated sync to '{sha}'")

    def start_sync(self, rec: AppRecord, revision: str, prune: bool, username: str) -> None:
        """Record a requested sync; the controller runs it on its next pass."""
        operation = {
            "sync": {"revision": revision, "prune": prune, "syncStrategy": {"hook": {}}},
            "initiatedBy": {"username": username},
        }
        rec.pending = PendingSync(operation=operation, revision=revision, prune=prune)
        self._event(rec, "OperationStarted", f"{username} initiated sync to {revision}")
        self._publish(rec)

    def _run_sync(self, name: str) -> None:
        with self.lock:
            rec = self.records.get(name)
            if rec is None or rec.pending is None or rec.pending.started_at is not None:
                return
            pending = rec.pending
            pending.started_at = self.clock.now()
            rec.operation_state = {
                "operation": pending.operation,
                "phase": "Running",
                "message": "",
                "startedAt": k8s_time(pending.started_at),
            }
            self._publish(rec)
        sha, rendered = self._target(rec, pending.revision)
        with self.lock:
            if rendered.error is not None or sha is None:
                rec.target = rendered if sha == rec.target_sha else rec.target
                message = syncresult.comparison_message(rendered.error or "unresolved revision")
                self._finish(rec, "Error", f"ComparisonError: {message}", sha)
                return
            self._apply(rec, pending, sha, rendered)

    def _apply(self, rec: AppRecord, pending: PendingSync, sha: str, rendered: Rendered) -> None:
        namespace = rec.destination_namespace
        target = syncresult.keyed(rendered.objects, namespace)
        live = rec.live.objects if rec.live else {}
        results, failures = syncresult.resource_results(target, live, self.scenarios.apply_failure)
        pending.result = {"resources": results, "revision": sha, "source": rec.source}
        if failures:
            reason = "; ".join(failures)
            self._finish(
                rec, "Failed", f"one or more objects failed to apply, reason: {reason}", sha
            )
            return
        now = self.clock.now()
        rec.live = LiveState(syncresult.merge_live(live, target, pending.prune), sha, now)
        pending.finish_at = now + timedelta(seconds=self.scenarios.slow_sync_seconds)
        if self.scenarios.slow_sync_seconds > 0:
            assert rec.operation_state is not None
            rec.operation_state = {
                **rec.operation_state,
                "message": "waiting for healthy state of apps/Deployment",
                "syncResult": pending.result,
            }
            self._publish(rec)
            return
        self._finish(rec, "Succeeded", syncresult.SUCCEEDED_MESSAGE, sha)

    def _finish(self, rec: AppRecord, phase: str, message: str, sha: str | None) -> None:
        pending = rec.pending
        assert pending is not None and pending.started_at is not None
        now = self.clock.now()
        state: dict[str, Any] = {
            "operation": pending.operation,
            "phase": phase,
            "message": message,
            "startedAt": k8s_time(pending.started_at),
            "finishedAt": k8s_time(now),
        }
        if pending.result is not None:
            state["syncResult"] = pending.result
        rec.operation_state = state
        rec.pending = None
        if pending.operation.get("initiatedBy", {}).get("automated"):
            rec.last_auto_sync = (sha or pending.revision, phase)
        if phase == "Succeeded" and sha is not None:
            self._record_history(rec, pending, sha, now)
            self._event(rec, "OperationCompleted", f"Sync operation to {sha} succeeded")
            self._set_condition(rec, "SyncError", None)
        else:
            self._event(
                rec, "OperationCompleted", f"Sync operation to {sha} failed: {message}", True
            )
        if not self.scenarios.stale_status and rec.target is not None:
            self._compare(rec)
        self._publish(rec)

    def _record_history(
        self, rec: AppRecord, pending: PendingSync, sha: str, now: datetime
    ) -> None:
        assert pending.started_at is not None
        entry: dict[str, Any] = {
            "id": rec.history[-1]["id"] + 1 if rec.history else 0,
            "revision": sha,
            "deployedAt": k8s_time(now),
            "deployStartedAt": k8s_time(pending.started_at),
            "source": rec.source,
            "initiatedBy": pending.operation.get("initiatedBy", {}),
        }
        limit = rec.spec.get("revisionHistoryLimit", 10)
        rec.history = [*rec.history, entry][-max(int(limit), 1) :]

    # ---- time-driven changes --------------------------------------------------------------
    def _advance(self) -> None:
        now = self.clock.now()
        with self.lock:
            for rec in list(self.records.values()):
                pending = rec.pending
                if pending and pending.finish_at and pending.result and now >= pending.finish_at:
                    self._finish(
                        rec, "Succeeded", syncresult.SUCCEEDED_MESSAGE, pending.result["revision"]
                    )
                if not self.scenarios.stale_status:
                    self._update_health(rec, now)
                self._publish(rec)

    def _update_health(self, rec: AppRecord, now: datetime) -> None:
        status, message = self.view(rec).app_health
        if status != rec.health_status or rec.health_since is None:
            if rec.health_since is not None:
                warning = status == "Degraded"
                self._event(
                    rec,
                    "ResourceUpdated",
                    f"Updated health status: {rec.health_status} -> {status}",
                    warning,
                )
            rec.health_status, rec.health_message, rec.health_since = status, message, now
            if rec.target is not None and rec.pending is None:
                # Argo CD refreshes an Application whenever one of its resources changes, so
                # a new health comes with a comparison: reconciledAt moves with it. (A sync
                # still running compares when it finishes.)
                self._compare(rec)
