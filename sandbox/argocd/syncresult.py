"""Pure sync bookkeeping: keyed objects, comparison, per-resource results and status entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.argocd.manifests import ObjectKey, images, object_key, split_api_version

SUCCEEDED_MESSAGE = "successfully synced (all tasks run)"


def keyed(objects: list[dict[str, Any]], namespace: str) -> dict[ObjectKey, dict[str, Any]]:
    return {object_key(obj, namespace): obj for obj in objects}


def comparison_message(error: str) -> str:
    return (
        "Failed to load target state: failed to generate manifest for source 1 of 1: "
        f"rpc error: code = Unknown desc = {error}"
    )


def is_synced(target: dict[ObjectKey, Any], live: dict[ObjectKey, Any]) -> bool:
    return target == live


def resource_results(
    target: dict[ObjectKey, dict[str, Any]],
    live_before: dict[ObjectKey, dict[str, Any]],
    fail: Callable[[str, str], str | None],
) -> tuple[list[dict[str, Any]], list[str]]:
    """``syncResult.resources`` for applying ``target`` over ``live_before``, and failures."""
    results, failures = [], []
    for key, obj in sorted(target.items()):
        _, version = split_api_version(obj["apiVersion"])
        resource = (
            f"{key.kind.lower()}.{key.group}/{key.name}"
            if key.group
            else f"{key.kind.lower()}/{key.name}"
        )
        failure = fail(key.kind, key.name)
        if failure is not None:
            status, message = "SyncFailed", failure
            failures.append(f"{key.kind}/{key.name}: {failure}")
        elif key not in live_before:
            status, message = "Synced", f"{resource} created"
        elif live_before[key] == obj:
            status, message = "Synced", f"{resource} unchanged"
        else:
            status, message = "Synced", f"{resource} configured"
        result: dict[str, Any] = {
            "group": key.group,
            "version": version,
            "kind": key.kind,
            "namespace": key.namespace,
            "name": key.name,
            "status": status,
            "message": message,
            "hookPhase": "Running" if status == "Synced" else "Failed",
            "syncPhase": "Sync",
        }
        found = images(obj)
        if found:
            result["images"] = found
        results.append(result)
    return results, failures


def resource_statuses(
    target: dict[ObjectKey, dict[str, Any]] | None,
    live: dict[ObjectKey, dict[str, Any]],
    health: Callable[[ObjectKey], dict[str, str] | None],
) -> list[dict[str, Any]]:
    """``status.resources``: every object in git or in the cluster, with sync status and health."""
    entries = []
    keys = set(live) | set(target or {})
    for key in sorted(keys):
        obj = (target or {}).get(key) or live[key]
        _, version = split_api_version(obj["apiVersion"])
        entry: dict[str, Any] = {
            "group": key.group,
            "version": version,
            "kind": key.kind,
            "namespace": key.namespace,
            "name": key.name,
        }
        if target is None:
            entry["status"] = "Unknown"
        elif key not in target:
            entry["status"] = "OutOfSync"
            entry["requiresPruning"] = True
        else:
            entry["status"] = "Synced" if live.get(key) == target[key] else "OutOfSync"
        if key in live:
            found = health(key)
            if found is not None:
                entry["health"] = found
        else:
            entry["health"] = {"status": "Missing"}
        entries.append(entry)
    return entries


def merge_live(
    live: dict[ObjectKey, dict[str, Any]], target: dict[ObjectKey, dict[str, Any]], prune: bool
) -> dict[ObjectKey, dict[str, Any]]:
    """The cluster after applying ``target``: objects no longer in git stay unless pruned."""
    kept = {} if prune else {k: v for k, v in live.items() if k not in target}
    return {**kept, **target}
