"""Why a deployment failed, in the user's terms: the unhealthy resources from Argo CD's
resource tree, the failing pod's warning events and the last lines of its log.

Everything here is redacted as it is gathered, not only when a comment is rendered: the
reason also goes to the deployment's record and the audit log, and a pod's log or an
event message may print the very secrets the app was given."""

from __future__ import annotations

import logging
from typing import Any

from bot.core.argo import KubeEvent, TreeNode
from bot.core.errors import AutostackError
from bot.core.follow import Failed, FailureReason
from bot.core.messages import Failure, redact

log = logging.getLogger(__name__)
BAD_HEALTH = ("Degraded", "Missing", "Unknown")
LOG_LINES = 40
MAX_EVENTS = 10
MAX_RESOURCES = 15
_REASONS = {
    FailureReason.DEGRADED: "Argo CD reports the app Degraded",
    FailureReason.SYNC_FAILED: "the sync failed",
    FailureReason.CONDITION: "Argo CD cannot apply the change",
}


def failure_reason(verdict: Failed) -> str:
    """One sentence: what failed, and Argo CD's most telling message."""
    head = _REASONS[verdict.reason]
    return f"{head}: {verdict.details[0]}" if verdict.details else head


def gather_failure(argocd: Any, application: str, verdict: Failed) -> Failure:
    """The ``Failure`` for a comment, from at most three Argo CD calls; what cannot be read
    (Argo CD flaking now) is left out rather than failing the report."""
    reason = redact(failure_reason(verdict))
    tree = _try(lambda: argocd.resource_tree(application), ())
    unhealthy = tuple(redact(_node_line(n)) for n in tree if n.health_status in BAD_HEALTH)
    if not unhealthy:
        unhealthy = tuple(redact(detail) for detail in verdict.details[1:])
    pod = next((n for n in tree if n.kind == "Pod" and n.health_status in BAD_HEALTH), None)
    if pod is None:
        return Failure(reason, unhealthy[:MAX_RESOURCES])
    events = _try(
        lambda: argocd.events(
            application,
            resource_name=pod.name,
            resource_namespace=pod.namespace,
            resource_uid=pod.uid,
        ),
        (),
    )
    lines = _try(
        lambda: argocd.pod_logs(
            application, pod.name, tail_lines=LOG_LINES, namespace=pod.namespace
        ),
        (),
    )
    return Failure(
        reason,
        unhealthy[:MAX_RESOURCES],
        _event_lines(events),
        container=f"pod/{pod.name}",
        log_tail=tuple(redact(line.content) for line in lines)[-LOG_LINES:],
    )


def _node_line(node: TreeNode) -> str:
    message = f": {node.health_message}" if node.health_message else ""
    return f"{node.ref}: {node.health_status}{message}"


def _event_lines(events: tuple[KubeEvent, ...]) -> tuple[str, ...]:
    """Warnings first (they say what went wrong), newest last, at most ``MAX_EVENTS``."""
    warnings = [e for e in events if e.type == "Warning"] or list(events)
    lines = []
    for event in warnings[-MAX_EVENTS:]:
        times = f" (x{event.count})" if event.count > 1 else ""
        lines.append(redact(f"{event.object_ref} {event.reason}: {event.message}{times}"))
    return tuple(lines)


def _try(call: Any, default: Any) -> Any:
    try:
        return call()
    except AutostackError as exc:
        log.warning("reading why a deployment failed: %s", redact(exc.message))
        return default
