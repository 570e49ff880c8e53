"""Kubernetes events and container log lines of the simulated pods, shaped like the real ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.argocd.clock import k8s_time
from sandbox.argocd.cluster import NODE_NAME, ClusterView, Pod, short_hash
from sandbox.argocd.model import CRASH_LOOP


def make_event(
    involved: dict[str, str],
    reason: str,
    message: str,
    at: datetime,
    *,
    warning: bool = False,
    count: int = 1,
    component: str = "kubelet",
    first: datetime | None = None,
) -> dict[str, Any]:
    """An ``eventsEvent`` (corev1.Event) about ``involved``."""
    name = f"{involved['name']}.{short_hash(reason + message + involved['name'], 16)}"
    source: dict[str, str] = {"component": component}
    if component == "kubelet":
        source["host"] = NODE_NAME
    return {
        "metadata": {
            "name": name,
            "namespace": involved.get("namespace", ""),
            "uid": short_hash(name, 8),
            "resourceVersion": str(int(at.timestamp())),
            "creationTimestamp": k8s_time(first or at),
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": k8s_time(first or at),
        "lastTimestamp": k8s_time(at),
        "count": count,
        "type": "Warning" if warning else "Normal",
        "reportingComponent": component,
        "reportingInstance": source.get("host", ""),
    }


def pod_events(view: ClusterView, now: datetime) -> list[dict[str, Any]]:
    events = []
    for pod in view.pods:
        events.extend(_one_pod_events(pod, view.rolled_out, now))
    return events


def _one_pod_events(pod: Pod, rolled_out: bool, now: datetime) -> list[dict[str, Any]]:
    ref = {
        "kind": "Pod",
        "namespace": pod.namespace,
        "name": pod.name,
        "uid": pod.uid,
        "apiVersion": "v1",
    }
    start = pod.started_at
    events = [
        make_event(
            ref,
            "Scheduled",
            f"Successfully assigned {pod.namespace}/{pod.name} to {NODE_NAME}",
            start,
            component="default-scheduler",
        )
    ]
    for container, image in pod.containers:
        field_ref = {**ref, "fieldPath": f"spec.containers{{{container}}}"}
        failing = pod.bad is not None and container == pod.bad_container
        if failing and pod.bad is not None and pod.bad.reason != CRASH_LOOP:
            events += _pull_failure(field_ref, image, start, now, rolled_out)
            continue
        events.append(
            make_event(
                field_ref, "Pulled", f'Container image "{image}" already present on machine', start
            )
        )
        events.append(make_event(field_ref, "Created", f"Created container {container}", start))
        events.append(make_event(field_ref, "Started", f"Started container {container}", start))
        if failing and rolled_out:
            events.append(
                make_event(
                    field_ref,
                    "BackOff",
                    f"Back-off restarting failed container {container} in pod "
                    f"{pod.name}_{pod.namespace}({pod.uid})",
                    now,
                    warning=True,
                    count=max(1, pod.restarts),
                    first=start + timedelta(seconds=5),
                )
            )
    return events


def _pull_failure(
    ref: dict[str, str], image: str, start: datetime, now: datetime, rolled_out: bool
) -> list[dict[str, Any]]:
    events = [
        make_event(ref, "Pulling", f'Pulling image "{image}"', start),
        make_event(
            ref,
            "Failed",
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
            f'and unpack image "{image}": not found',
            start,
            warning=True,
        ),
        make_event(ref, "Failed", "Error: ErrImagePull", start, warning=True),
    ]
    if rolled_out:
        events.append(
            make_event(ref, "BackOff", f'Back-off pulling image "{image}"', now, warning=True)
        )
        events.append(make_event(ref, "Failed", "Error: ImagePullBackOff", now, warning=True))
    return events


def pod_log_lines(pod: Pod, container: str, rolled_out: bool) -> list[tuple[datetime, str]]:
    """What ``kubectl logs`` would print for ``container`` of ``pod`` right now."""
    image = dict(pod.containers).get(container, "")
    at = pod.started_at
    if pod.bad is not None and container == pod.bad_container:
        if pod.bad.reason != CRASH_LOOP:
            return []  # the container never started
        lines = [f"starting {container} ({image})", *pod.bad.log_lines]
        return [(at + timedelta(milliseconds=10 * i), line) for i, line in enumerate(lines)]
    lines = [f"starting {container} ({image})", "listening on 0.0.0.0:8080"]
    if rolled_out:
        lines.append('"GET /healthz HTTP/1.1" 200')
    return [(at + timedelta(milliseconds=10 * i), line) for i, line in enumerate(lines)]
