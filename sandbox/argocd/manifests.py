"""Kubernetes objects as plain dicts: parsing, identity, minimal validation and their images."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# Kinds a real API server treats as cluster-wide; everything else lands in a namespace.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
    }
)

POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


class ManifestError(Exception):
    """Manifests that do not parse or do not describe valid objects."""


@dataclass(frozen=True, order=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str
    name: str


def load_documents(text: str) -> list[Any]:
    """Every non-empty YAML document in ``text``."""
    try:
        return [d for d in YAML(typ="safe").load_all(io.StringIO(text)) if d is not None]
    except YAMLError as exc:
        raise ManifestError(str(exc)) from exc


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def object_key(obj: dict[str, Any], default_namespace: str) -> ObjectKey:
    group, _ = split_api_version(obj["apiVersion"])
    meta = obj.get("metadata") or {}
    namespace = "" if obj["kind"] in CLUSTER_SCOPED else meta.get("namespace") or default_namespace
    return ObjectKey(group, obj["kind"], namespace, meta["name"])


def validate_objects(objects: list[Any]) -> list[str]:
    """What would make the API server reject these objects outright (apiVersion, kind, name)."""
    problems = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            problems.append(f"document {index + 1}: not a Kubernetes object")
            continue
        where = f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"
        if not isinstance(obj.get("apiVersion"), str) or not obj["apiVersion"]:
            problems.append(f"{where}: Object 'apiVersion' is missing")
        if not isinstance(obj.get("kind"), str) or not obj["kind"]:
            problems.append(f"{where}: Object 'Kind' is missing")
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
            problems.append(f"{where}: metadata.name is required")
    return problems


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    path = POD_SPEC_PATHS.get(obj.get("kind", ""), ("spec", "template", "spec"))
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj) or {}
    found = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    return [c for c in found if isinstance(c, dict)]


def images(obj: dict[str, Any]) -> list[str]:
    return [str(c["image"]) for c in containers(obj) if c.get("image")]
