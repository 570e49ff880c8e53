"""The JSON Argo CD's API returns for an Application (``v1alpha1Application``), from a record."""

from __future__ import annotations

import json
from typing import Any

from sandbox.argocd.clock import k8s_time
from sandbox.argocd.cluster import ClusterView
from sandbox.argocd.manifests import images
from sandbox.argocd.model import AppRecord
from sandbox.argocd.syncresult import keyed, resource_statuses

CONTROLLER_NAMESPACE = "argocd"


def application_json(rec: AppRecord, view: ClusterView) -> dict[str, Any]:
    meta = dict(rec.manifest.get("metadata") or {})
    metadata: dict[str, Any] = {
        "name": rec.name,
        "namespace": meta.get("namespace") or CONTROLLER_NAMESPACE,
        "uid": rec.uid,
        "resourceVersion": str(rec.resource_version),
        "generation": rec.generation,
        "creationTimestamp": k8s_time(rec.created_at),
    }
    for key in ("labels", "annotations", "finalizers"):
        if meta.get(key):
            metadata[key] = meta[key]
    app: dict[str, Any] = {
        "metadata": metadata,
        "spec": rec.manifest.get("spec") or {},
        "status": status_json(rec, view),
    }
    if rec.pending is not None:
        app["operation"] = rec.pending.operation
    return app


def status_json(rec: AppRecord, view: ClusterView) -> dict[str, Any]:
    spec = rec.spec
    sync: dict[str, Any] = {
        "status": rec.sync_status,
        "comparedTo": {"source": rec.source, "destination": spec.get("destination") or {}},
    }
    if rec.target_sha:
        sync["revision"] = rec.target_sha
    health: dict[str, Any] = {"status": rec.health_status}
    if rec.health_message:
        health["message"] = rec.health_message
    if rec.health_since is not None:
        health["lastTransitionTime"] = k8s_time(rec.health_since)
    status: dict[str, Any] = {
        "sync": sync,
        "health": health,
        "resources": resources_json(rec, view),
        "summary": summary_json(rec),
        "controllerNamespace": CONTROLLER_NAMESPACE,
    }
    if rec.target is not None and rec.target.error is None:
        status["sourceType"] = rec.target.source_type
    if rec.reconciled_at is not None:
        status["reconciledAt"] = k8s_time(rec.reconciled_at)
    if rec.operation_state is not None:
        status["operationState"] = rec.operation_state
    if rec.history:
        status["history"] = rec.history
    if rec.conditions:
        status["conditions"] = rec.conditions
    return status


def resources_json(rec: AppRecord, view: ClusterView) -> list[dict[str, Any]]:
    namespace = rec.destination_namespace
    target = None
    if rec.target is not None and rec.target.error is None:
        target = keyed(rec.target.objects, namespace)
    live = rec.live.objects if rec.live is not None else {}
    return resource_statuses(target, live, lambda key: view.health.get(key))


def summary_json(rec: AppRecord) -> dict[str, Any]:
    if rec.live is None:
        return {}
    found = sorted({image for obj in rec.live.objects.values() for image in images(obj)})
    return {"images": found} if found else {}


def fingerprint(app: dict[str, Any]) -> str:
    """The application without its resourceVersion, to tell real changes from re-renders."""
    meta = {k: v for k, v in app["metadata"].items() if k != "resourceVersion"}
    return json.dumps({**app, "metadata": meta}, sort_keys=True, default=str)
