"""``ArgoState``: the sandbox Argo CD's configuration, controller, worker thread and read API."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.argocd import podsim
from sandbox.argocd.appview import application_json
from sandbox.argocd.clock import Clock, k8s_time, k8s_time_nano
from sandbox.argocd.controller import Controller
from sandbox.argocd.gitmirror import RepoCredentials, RepoError
from sandbox.argocd.model import AppRecord
from sandbox.argocd.syncresult import keyed

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with Argo CD's ``runtimeError`` body (gRPC code + HTTP status)."""

    def __init__(self, http_status: int, grpc_code: int, message: str):
        super().__init__(message)
        self.http_status, self.grpc_code, self.message = http_status, grpc_code, message


def not_found(name: str) -> ApiError:
    return ApiError(404, 5, f'applications.argoproj.io "{name}" not found')


@dataclass(frozen=True)
class RequestRecord:
    method: str
    route: str
    status: int


class ArgoState(Controller):
    """Everything one sandbox Argo CD knows; ``create_app(state)`` serves it."""

    def __init__(
        self,
        data_dir: Path | str,
        repo_url: str,
        *,
        tokens: list[str] | None = None,
        repo_username: str | None = None,
        repo_password: str | None = None,
        poll_interval: float = 180.0,
        progressing_seconds: float = 2.0,
        clock: Clock | None = None,
        worker_interval: float = 0.2,
    ):
        credentials = None
        if repo_password is not None:
            credentials = RepoCredentials(repo_username or "x-access-token", repo_password)
        super().__init__(
            Path(data_dir), repo_url, credentials, poll_interval, progressing_seconds, clock
        )
        self.tokens = list(tokens) if tokens else [secrets.token_urlsafe(32)]
        self.requests: list[RequestRecord] = []
        self.worker_interval = worker_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> str:
        return self.tokens[0]

    @property
    def repo_url(self) -> str:
        return self.mirror.url

    # ---- worker ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="argocd-controller", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._emit("CLOSED", {})

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("controller pass failed")
            self._wake.wait(self.worker_interval)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def poll_now(self) -> None:
        """Fetch the repository, rediscover, compare and auto-sync now; run the syncs it starts."""
        self.tick(force_poll=True)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once no requested sync is waiting to run (running them here if need be)."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            with self.lock:
                busy = any(r.pending and not r.pending.started_at for r in self.records.values())
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox Argo CD did not become idle")
            time.sleep(0.01)

    # ---- reads ----------------------------------------------------------------------------
    def record(self, name: str) -> AppRecord:
        rec = self.records.get(name)
        if rec is None:
            raise not_found(name)
        return rec

    def application(self, name: str) -> dict[str, Any]:
        with self.lock:
            rec = self.record(name)
            app = application_json(rec, self.view(rec))
            return app

    def applications(self) -> list[dict[str, Any]]:
        with self.lock:
            return [application_json(r, self.view(r)) for _, r in sorted(self.records.items())]

    def refresh(self, name: str) -> None:
        """What ``?refresh=normal|hard`` does: fetch and compare this app before answering."""
        self.record(name)
        with self._work:
            try:
                self.mirror.fetch()
            except RepoError as exc:
                log.warning("refresh: cannot fetch: %s", exc)
            self._reconcile(name)
            self._advance()

    def request_sync(
        self, name: str, revision: str, prune: bool, username: str = "admin"
    ) -> dict[str, Any]:
        rec = self.record(name)
        source_revision = str(rec.source.get("targetRevision") or "HEAD")
        if rec.automated is not None and revision and revision != source_revision:
            raise ApiError(
                400, 9, f"Cannot sync to {revision}: auto-sync currently set to {source_revision}"
            )
        with self._work:
            try:
                self.mirror.fetch()
                sha = self.mirror.resolve(revision or source_revision)
            except RepoError as exc:
                raise ApiError(400, 3, str(exc)) from exc
        with self.lock:
            rec = self.record(name)
            if rec.pending is not None:
                raise ApiError(400, 9, "another operation is already in progress")
            self.start_sync(rec, sha, prune, username)
            app = application_json(rec, self.view(rec))
        self.wake()
        return app

    def resource_tree(self, name: str) -> dict[str, Any]:
        with self.lock:
            return {"nodes": self.view(self.record(name)).nodes}

    def managed_resources(self, name: str) -> dict[str, Any]:
        with self.lock:
            rec = self.record(name)
            items = []
            target: dict[Any, dict[str, Any]] = {}
            if rec.target is not None and rec.target.error is None:
                target = keyed(rec.target.objects, rec.destination_namespace)
            live = rec.live.objects if rec.live else {}
            for key in sorted(set(target) | set(live)):
                want, have = target.get(key), live.get(key)
                items.append(
                    {
                        "group": key.group,
                        "kind": key.kind,
                        "namespace": key.namespace,
                        "name": key.name,
                        "targetState": json.dumps(want) if want is not None else "null",
                        "liveState": json.dumps(have) if have is not None else "null",
                        "normalizedLiveState": json.dumps(have) if have is not None else "null",
                        "predictedLiveState": json.dumps(want) if want is not None else "null",
                        "modified": want != have,
                        "hook": False,
                    }
                )
            return {"items": items}

    def events(self, name: str, resource_name: str = "", resource_uid: str = "") -> dict[str, Any]:
        with self.lock:
            rec = self.record(name)
            if not resource_name and not resource_uid:
                items = list(rec.events)
            else:
                items = [
                    e
                    for e in podsim.pod_events(self.view(rec), self.clock.now())
                    if (not resource_name or e["involvedObject"]["name"] == resource_name)
                    and (not resource_uid or e["involvedObject"]["uid"] == resource_uid)
                ]
            return {"metadata": {}, "items": items}

    def pod_logs(
        self,
        name: str,
        *,
        pod_name: str = "",
        container: str = "",
        resource_name: str = "",
        tail_lines: int | None = None,
        filter_text: str = "",
        match_case: bool = False,
    ) -> list[dict[str, Any]]:
        """``applicationLogEntry`` values for the pods picked by name or by owning resource."""
        with self.lock:
            view = self.view(self.record(name))
        pods = view.pods
        if pod_name:
            pods = [p for p in pods if p.name == pod_name]
        elif resource_name:
            pods = [
                p for p in pods if p.name == resource_name or p.name.startswith(resource_name + "-")
            ]
        entries = []
        for pod in pods:
            chosen = container or pod.containers[0][0]
            lines = podsim.pod_log_lines(pod, chosen, view.rolled_out)
            lines = [(at, text) for at, text in lines if _matches(text, filter_text, match_case)]
            if tail_lines is not None:
                lines = lines[-tail_lines:] if tail_lines > 0 else []
            entries += [
                {
                    "content": text,
                    "podName": pod.name,
                    "timeStamp": k8s_time(at),
                    "timeStampStr": k8s_time_nano(at),
                    "last": False,
                }
                for at, text in lines
            ]
        return entries


def _matches(text: str, pattern: str, match_case: bool) -> bool:
    if not pattern:
        return True
    negate = pattern.startswith("!")
    needle = pattern[1:] if negate else pattern
    found = needle in text if match_case else needle.lower() in text.lower()
    return found != negate
