"""Argo CD's API as plain values: parse Application JSON and map HTTP answers to our errors.

Sans-I/O: the httpx client in ``bot/adapters/argocd.py`` feeds these functions what it
received; everything here is testable with dictionaries and status codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.errors import AutostackError, PermanentError, TransientError

AUTH_HINT = "check AUTOSTACK_ARGOCD_TOKEN and the account's RBAC: applications, get/sync"
# Statuses worth retrying at once: the request most likely never reached Argo CD itself.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Argo CD answers a sync request during a running operation with FailedPrecondition.
OPERATION_IN_PROGRESS = "another operation is already in progress"


class ArgoNotFound(PermanentError):
    """The Application (or pod, or route) does not exist in Argo CD."""


class OperationInProgress(TransientError):
    """A sync was asked for while another operation runs; following it is enough."""


@dataclass(frozen=True)
class Condition:
    """One of ``status.conditions``: an error or warning Argo CD reports for the app."""

    type: str
    message: str
    last_transition_at: datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One finished sync from ``status.history``."""

    id: int
    revision: str
    deployed_at: datetime | None
    deploy_started_at: datetime | None = None


@dataclass(frozen=True)
class ResourceState:
    """A managed resource from ``status.resources``: its sync and health."""

    kind: str
    name: str
    namespace: str
    sync_status: str
    health_status: str
    health_message: str

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class AppStatus:
    """What AutoStack reads from one Argo CD Application; empty strings when unset."""

    name: str
    sync_status: str
    sync_revision: str
    health_status: str
    health_message: str
    operation_phase: str
    operation_message: str
    operation_revision: str
    operation_started_at: datetime | None
    operation_finished_at: datetime | None
    reconciled_at: datetime | None
    conditions: tuple[Condition, ...] = ()
    images: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    resources: tuple[ResourceState, ...] = ()
    external_urls: tuple[str, ...] = ()
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None  # autostack.dev/source-repo names the app repo
    resource_version: str = ""
    operation_pending: bool = False  # a sync was requested and has not started yet


@dataclass(frozen=True)
class WatchEvent:
    """One message of ``/api/v1/stream/applications``: ADDED, MODIFIED or DELETED."""

    type: str
    application: AppStatus


@dataclass(frozen=True)
class TreeNode:
    """A live resource from the resource tree, with its health and its owners."""

    kind: str
    name: str
    namespace: str
    uid: str
    health_status: str
    health_message: str
    images: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()  # "Kind/name" of each owner

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class KubeEvent:
    """A Kubernetes event about the app or one of its resources."""

    type: str
    reason: str
    message: str
    object_ref: str  # "Kind/name" of the involved object
    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class LogLine:
    """One line of a pod's log."""

    pod: str
    content: str
    at: datetime | None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _obj(data: Any, *keys: str) -> dict[str, Any]:
    """The nested object at ``keys``, or {} when any step is missing or not an object."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(item for item in _list(data, key) if isinstance(item, str))


def parse_application(data: Mapping[str, Any]) -> AppStatus:
    """An ``v1alpha1Application`` JSON object as an ``AppStatus``."""
    app = dict(data)
    meta, status = _obj(app, "metadata"), _obj(app, "status")
    sync, health = _obj(status, "sync"), _obj(status, "health")
    op_state = _obj(status, "operationState")
    # The result's revision is what was applied; the operation's is what was asked for.
    op_revision = _str(_obj(op_state, "syncResult"), "revision") or _str(
        _obj(op_state, "operation", "sync"), "revision"
    )
    labels = {k: v for k, v in _obj(meta, "labels").items() if isinstance(v, str)}
    annotations = {k: v for k, v in _obj(meta, "annotations").items() if isinstance(v, str)}
    return AppStatus(
        name=_str(meta, "name"),
        sync_status=_str(sync, "status"),
        sync_revision=_str(sync, "revision"),
        health_status=_str(health, "status"),
        health_message=_str(health, "message"),
        operation_phase=_str(op_state, "phase"),
        operation_message=_str(op_state, "message"),
        operation_revision=op_revision,
        operation_started_at=parse_time(op_state.get("startedAt")),
        operation_finished_at=parse_time(op_state.get("finishedAt")),
        reconciled_at=parse_time(status.get("reconciledAt")),
        conditions=tuple(_condition(c) for c in _list(status, "conditions") if isinstance(c, dict)),
        images=_strings(_obj(status, "summary"), "images"),
        history=tuple(_history(h) for h in _list(status, "history") if isinstance(h, dict)),
        resources=tuple(_resource(r) for r in _list(status, "resources") if isinstance(r, dict)),
        external_urls=_strings(_obj(status, "summary"), "externalURLs"),
        labels=labels,
        annotations=annotations,
        resource_version=_str(meta, "resourceVersion"),
        operation_pending=bool(_obj(app, "operation")),
    )


def _condition(data: dict[str, Any]) -> Condition:
    return Condition(
        _str(data, "type"), _str(data, "message"), parse_time(data.get("lastTransitionTime"))
    )


def _history(data: dict[str, Any]) -> HistoryEntry:
    raw_id = data.get("id")
    # int64 may arrive as a JSON number or, per proto3 JSON, as a decimal string.
    entry_id = int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).isdigit() else 0
    return HistoryEntry(
        entry_id,
        _str(data, "revision"),
        parse_time(data.get("deployedAt")),
        parse_time(data.get("deployStartedAt")),
    )


def _resource(data: dict[str, Any]) -> ResourceState:
    health = _obj(data, "health")
    return ResourceState(
        kind=_str(data, "kind"),
        name=_str(data, "name"),
        namespace=_str(data, "namespace"),
        sync_status=_str(data, "status"),
        health_status=_str(health, "status"),
        health_message=_str(health, "message"),
    )


def parse_application_list(data: Mapping[str, Any]) -> tuple[AppStatus, ...]:
    """The items of a ``v1alpha1ApplicationList``."""
    items = data.get("items")
    return tuple(parse_application(i) for i in items or () if isinstance(i, dict))


def parse_resource_tree(data: Mapping[str, Any]) -> tuple[TreeNode, ...]:
    """The nodes of a ``v1alpha1ApplicationTree`` (orphaned nodes are not ours to report)."""
    nodes = []
    for node in data.get("nodes") or ():
        if not isinstance(node, dict):
            continue
        health = _obj(node, "health")
        parents = tuple(
            f"{_str(p, 'kind')}/{_str(p, 'name')}"
            for p in _list(node, "parentRefs")
            if isinstance(p, dict)
        )
        nodes.append(
            TreeNode(
                kind=_str(node, "kind"),
                name=_str(node, "name"),
                namespace=_str(node, "namespace"),
                uid=_str(node, "uid"),
                health_status=_str(health, "status"),
                health_message=_str(health, "message"),
                images=_strings(node, "images"),
                parents=parents,
            )
        )
    return tuple(nodes)


def parse_events(data: Mapping[str, Any]) -> tuple[KubeEvent, ...]:
    """The items of an ``eventsEventList``, oldest first."""
    events = []
    for item in data.get("items") or ():
        if not isinstance(item, dict):
            continue
        involved = _obj(item, "involvedObject")
        count = item.get("count")
        last_seen = parse_time(item.get("lastTimestamp")) or parse_time(item.get("eventTime"))
        events.append(
            KubeEvent(
                type=_str(item, "type"),
                reason=_str(item, "reason"),
                message=_str(item, "message"),
                object_ref=f"{_str(involved, 'kind')}/{_str(involved, 'name')}",
                count=count if isinstance(count, int) else 1,
                last_seen=last_seen,
            )
        )
    events.sort(key=lambda e: (e.last_seen is not None, e.last_seen or datetime.min))
    return tuple(events)


def parse_stream_line(line: str, what: str) -> dict[str, Any] | None:
    """The ``result`` of one streamed message (NDJSON or ``data:`` SSE); None for blank lines.

    A stream ``error`` message raises the error its ``http_code`` maps to.
    """
    text = line.strip()
    if text.startswith("data:"):
        text = text[5:].strip()
    if not text:
        return None
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TransientError(f"Argo CD: {what}: malformed stream message: {exc}") from None
    if not isinstance(message, dict):
        raise TransientError(f"Argo CD: {what}: stream message is not an object")
    error = message.get("error")
    if isinstance(error, dict):
        code = error.get("http_code")
        status = code if isinstance(code, int) and code >= 400 else 500
        raised = error_for_status(status, json.dumps(error), what)
        assert raised is not None
        raise raised
    result = message.get("result")
    return result if isinstance(result, dict) else {}


def parse_watch_event(result: Mapping[str, Any]) -> WatchEvent:
    application = result.get("application")
    app = parse_application(application if isinstance(application, dict) else {})
    kind = result.get("type")
    return WatchEvent(kind if isinstance(kind, str) else "", app)


def parse_log_entry(result: Mapping[str, Any]) -> LogLine | None:
    """A log line, or None for the terminating ``last`` message."""
    if result.get("last"):
        return None
    pod, content = result.get("podName"), result.get("content")
    return LogLine(
        pod if isinstance(pod, str) else "",
        content if isinstance(content, str) else "",
        parse_time(result.get("timeStamp")),
    )


def error_message(body: str) -> str:
    """The message of a grpc-gateway ``runtimeError`` body, or the body's start."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return body.strip()[:200]
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return body.strip()[:200]


def error_for_status(
    status: int, body: str, what: str, *, retry_after: float | None = None
) -> AutostackError | None:
    """The one mapping from an Argo CD HTTP answer to our error taxonomy; None on success.

    ``what`` says what was attempted ("get application web-prod"), for the message;
    ``retry_after`` is the wait the server asked for, if it said.
    """
    if 200 <= status < 300:
        return None
    detail = error_message(body)
    message = f"Argo CD: {what} failed with HTTP {status}: {detail}"
    if status in (401, 403):
        return PermanentError(message, hint=AUTH_HINT)
    if status == 404:
        return ArgoNotFound(message)
    if status == 429 or status >= 500:
        return TransientError(message, retry_after=retry_after)
    if OPERATION_IN_PROGRESS in detail:
        return OperationInProgress(message)
    return PermanentError(message)


def sync_request_body(name: str, revision: str | None, prune: bool) -> dict[str, Any]:
    """An ``applicationApplicationSyncRequest``; no revision means the app's target revision."""
    body: dict[str, Any] = {"name": name, "prune": prune}
    if revision:
        body["revision"] = revision
    return body


def query(**params: str | Sequence[str] | None) -> dict[str, str | list[str]]:
    """Query parameters without the unset ones (the gateway treats "" as a value)."""
    out: dict[str, str | list[str]] = {}
    for key, value in params.items():
        if value is None or value == "":
            continue
        out[key] = value if isinstance(value, str) else list(value)
    return out
