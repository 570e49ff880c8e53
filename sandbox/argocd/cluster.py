"""A simulated cluster: what the synced objects of an Application look like while they run.

Workloads roll out (Progressing) for a configurable time after a sync, then become Healthy,
or Degraded when a scenario marks one of their images bad. Pure: the caller passes the time.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.argocd.clock import k8s_time
from sandbox.argocd.manifests import ObjectKey, containers, split_api_version
from sandbox.argocd.model import CRASH_LOOP, BadImage, LiveState, Scenarios

NODE_NAME = "sandbox-node"
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"})
ALWAYS_HEALTHY = frozenset({"Service", "Ingress", "PersistentVolumeClaim", "Namespace"})
# Argo CD's order of badness (health.IsWorse).
HEALTH_ORDER = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def stable_uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def short_hash(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(K8S_ALPHABET[b % len(K8S_ALPHABET)] for b in digest[:length])


def worse(a: str, b: str) -> str:
    return a if HEALTH_ORDER.index(a) >= HEALTH_ORDER.index(b) else b


@dataclass
class Pod:
    name: str
    uid: str
    namespace: str
    owner: dict[str, str]
    containers: list[tuple[str, str]]  # (name, image)
    bad: BadImage | None
    bad_container: str
    started_at: datetime
    ready: bool
    restarts: int


@dataclass
class ClusterView:
    """Health per managed object, the resource tree, the pods and the app's overall health."""

    health: dict[ObjectKey, dict[str, str] | None] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    app_health: tuple[str, str] = ("Healthy", "")
    rolled_out: bool = False


def observe(
    app: str,
    live: LiveState | None,
    now: datetime,
    progressing_seconds: float,
    scenarios: Scenarios,
) -> ClusterView:
    view = ClusterView()
    if live is None:
        view.app_health = ("Missing", "")
        return view
    rolled_out = now >= live.synced_at + timedelta(seconds=progressing_seconds)
    view.rolled_out = rolled_out
    status = "Healthy"
    for key, obj in sorted(live.objects.items()):
        uid = stable_uid(app, key.group, key.kind, key.namespace, key.name)
        health = _object_health(app, key, obj, uid, live, now, rolled_out, scenarios, view)
        view.health[key] = health
        view.nodes.append(_node(key, obj, uid, live.synced_at, health))
        if health is not None:
            status = worse(health["status"], status)
    view.nodes.sort(key=lambda n: (n["kind"], n["name"]))
    view.app_health = (status, "")
    return view


def _object_health(
    app: str,
    key: ObjectKey,
    obj: dict[str, Any],
    uid: str,
    live: LiveState,
    now: datetime,
    rolled_out: bool,
    scenarios: Scenarios,
    view: ClusterView,
) -> dict[str, str] | None:
    if key.kind in ALWAYS_HEALTHY:
        return {"status": "Healthy"}
    if key.kind not in WORKLOADS:
        return None  # Argo CD assesses no health for ConfigMaps, ServiceAccounts, Applications...
    pods = _pods(app, key, obj, uid, live, now, rolled_out, scenarios, view)
    failing = next((p for p in pods if p.bad is not None), None)
    replicas = len(pods)
    if not rolled_out:
        return {
            "status": "Progressing",
            "message": (
                f"Waiting for rollout to finish: 0 of {replicas} updated replicas are available..."
            ),
        }
    if failing is not None:
        return {
            "status": "Degraded",
            "message": f'{key.kind} "{key.name}" exceeded its progress deadline',
        }
    return {"status": "Healthy"}


def _pods(
    app: str,
    key: ObjectKey,
    obj: dict[str, Any],
    uid: str,
    live: LiveState,
    now: datetime,
    rolled_out: bool,
    scenarios: Scenarios,
    view: ClusterView,
) -> list[Pod]:
    pairs = [(str(c.get("name", "main")), str(c.get("image", ""))) for c in containers(obj)]
    owner = {"group": key.group, "kind": key.kind, "namespace": key.namespace, "name": key.name}
    owner["uid"] = uid
    if key.kind == "Pod":
        pod_owners: list[tuple[str, dict[str, str]]] = [("", owner)]
    else:
        if key.kind == "Deployment":
            rs_name = f"{key.name}-{short_hash(repr(pairs), 10)}"
            rs_uid = stable_uid(app, "apps", "ReplicaSet", key.namespace, rs_name)
            rs_ref = {"group": "apps", "kind": "ReplicaSet", "namespace": key.namespace}
            rs_ref.update(name=rs_name, uid=rs_uid)
            owner = rs_ref
        count = _replicas(obj)
        prefix = owner["name"] + ("-" if key.kind != "StatefulSet" else "")
        pod_owners = [
            (
                f"{prefix}{i}"
                if key.kind == "StatefulSet"
                else f"{prefix}{short_hash(prefix + str(i), 5)}",
                owner,
            )
            for i in range(count)
        ]
    pods = []
    for pod_name, pod_owner in pod_owners:
        name = pod_name or key.name
        pods.append(
            _pod(app, name, key.namespace, pod_owner, pairs, live, now, rolled_out, scenarios)
        )
    health_nodes = [_pod_node(p, now, rolled_out) for p in pods]
    if key.kind == "Deployment" and pods:
        rs = pods[0].owner
        rs_health = _rs_health(pods, rolled_out)
        parent = {"group": key.group, "kind": key.kind, "namespace": key.namespace}
        parent.update(name=key.name, uid=uid)
        view.nodes.append(
            {
                "group": "apps",
                "version": "v1",
                "kind": "ReplicaSet",
                "namespace": key.namespace,
                "name": rs["name"],
                "uid": rs["uid"],
                "resourceVersion": str(_rv(live.synced_at)),
                "createdAt": k8s_time(live.synced_at),
                "parentRefs": [parent],
                "health": rs_health,
                "images": [img for _, img in pairs],
                "info": [{"name": "Revision", "value": "Rev:1"}],
            }
        )
    if key.kind != "Pod":
        view.nodes.extend(health_nodes)
    view.pods.extend(pods)
    return pods


def _replicas(obj: dict[str, Any]) -> int:
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return max(0, min(int(replicas) if isinstance(replicas, int) else 1, 5))


def _pod(
    app: str,
    name: str,
    namespace: str,
    owner: dict[str, str],
    pairs: list[tuple[str, str]],
    live: LiveState,
    now: datetime,
    rolled_out: bool,
    scenarios: Scenarios,
) -> Pod:
    bad, bad_container = None, ""
    for container, image in pairs:
        bad = scenarios.bad_image(image)
        if bad is not None:
            bad_container = container
            break
    elapsed = max(0.0, (now - live.synced_at).total_seconds())
    restarts = 0 if bad is None or bad.reason != CRASH_LOOP else 1 + int(elapsed // 20)
    return Pod(
        name=name,
        uid=stable_uid(app, "", "Pod", namespace, name),
        namespace=namespace,
        owner=owner,
        containers=pairs,
        bad=bad,
        bad_container=bad_container,
        started_at=live.synced_at,
        ready=rolled_out and bad is None,
        restarts=min(restarts, 99),
    )


def pod_state(pod: Pod, rolled_out: bool) -> tuple[str, dict[str, str]]:
    """The pod's status reason and its Argo CD health."""
    if pod.bad is not None and rolled_out:
        if pod.bad.reason == CRASH_LOOP:
            message = (
                f"back-off 5m0s restarting failed container={pod.bad_container} "
                f"pod={pod.name}_{pod.namespace}({pod.uid})"
            )
        else:
            image = dict(pod.containers)[pod.bad_container]
            message = f'Back-off pulling image "{image}"'
        return pod.bad.reason, {"status": "Degraded", "message": message}
    if not rolled_out:
        return "ContainerCreating", {"status": "Progressing"}
    return "Running", {"status": "Healthy"}


def _pod_node(pod: Pod, now: datetime, rolled_out: bool) -> dict[str, Any]:
    reason, health = pod_state(pod, rolled_out)
    ready = len(pod.containers) if pod.ready else 0
    info = [
        {"name": "Status Reason", "value": reason},
        {"name": "Node", "value": NODE_NAME},
        {"name": "Containers", "value": f"{ready}/{len(pod.containers)}"},
    ]
    if pod.restarts:
        info.append({"name": "Restart Count", "value": str(pod.restarts)})
    return {
        "group": "",
        "version": "v1",
        "kind": "Pod",
        "namespace": pod.namespace,
        "name": pod.name,
        "uid": pod.uid,
        "resourceVersion": str(_rv(now)),
        "createdAt": k8s_time(pod.started_at),
        "parentRefs": [pod.owner],
        "health": health,
        "images": [image for _, image in pod.containers],
        "info": info,
    }


def _rs_health(pods: list[Pod], rolled_out: bool) -> dict[str, str]:
    if not rolled_out:
        return {"status": "Progressing", "message": "Waiting for rollout to finish"}
    if any(p.bad is not None for p in pods):
        ready = sum(1 for p in pods if p.ready)
        return {"status": "Degraded", "message": f"{ready} of {len(pods)} replicas are available"}
    return {"status": "Healthy"}


def _node(
    key: ObjectKey,
    obj: dict[str, Any],
    uid: str,
    synced_at: datetime,
    health: dict[str, str] | None,
) -> dict[str, Any]:
    _, version = split_api_version(obj["apiVersion"])
    node: dict[str, Any] = {
        "group": key.group,
        "version": version,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
        "uid": uid,
        "resourceVersion": str(_rv(synced_at)),
        "createdAt": k8s_time(synced_at),
    }
    if not key.namespace:
        del node["namespace"]
    if health is not None:
        node["health"] = health
    images = [str(c["image"]) for c in containers(obj) if c.get("image")]
    if images:
        node["images"] = images
    return node


def _rv(moment: datetime) -> int:
    return int(moment.timestamp())
