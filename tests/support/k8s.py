"""Real-tool checks of generated Kubernetes and Argo CD manifests, shared by test modules.

``render_overlay`` runs ``kubectl kustomize``; ``validate_k8s`` runs
``kubernetes-validate --strict`` once over many objects (it costs a process start);
``validate_argocd`` checks Argo CD objects against the CRDs' ``openAPIV3Schema`` from
``tests/fixtures/reference/argocd/``, made strict so a misspelt field fails.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "argocd"
CRD_FILES = {
    "Application": "application-crd.yaml",
    "AppProject": "appproject-crd.yaml",
    "ApplicationSet": "applicationset-crd.yaml",
}
# A version managed Kubernetes offerings still run: newer fields would fail against it.
KUBERNETES_VERSION = "1.33.0"
VALIDATOR = Path(sys.executable).parent / "kubernetes-validate"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def render_overlay(path: str | Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize <path>`` renders; fails the test on any error."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed: {result.stderr.strip()}")
    return load_documents(result.stdout)


def load_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc is not None]


def validate_k8s(objects: Iterable[dict[str, Any]], version: str = KUBERNETES_VERSION) -> None:
    """Validate every object with ``kubernetes-validate --strict`` in one call. Each object
    must be reported as passed: a kind the validator does not know is a failure too."""
    docs = list(objects)
    if not docs:
        raise AssertionError("nothing to validate")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "objects.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        result = subprocess.run(
            [str(VALIDATOR), "--strict", "-k", version, str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    output = result.stdout + result.stderr
    passed = len(re.findall(r"passed for resource", output))
    if result.returncode != 0 or passed != len(docs):
        raise AssertionError(
            f"kubernetes-validate: {passed} of {len(docs)} objects passed\n{output}"
        )


def validate_argocd(obj: dict[str, Any]) -> None:
    """Validate an Argo CD object against its CRD schema (unknown fields rejected)."""
    kind = obj.get("kind")
    if kind not in CRD_FILES:
        raise AssertionError(f"not an Argo CD kind: {kind!r}")
    group, _, version = str(obj.get("apiVersion", "")).partition("/")
    schema = crd_schema(kind, version)
    if group != "argoproj.io" or schema is None:
        raise AssertionError(f"{kind}: apiVersion {obj.get('apiVersion')!r} is not served")
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
        raise AssertionError(f"{kind}: metadata.name {name!r} is not a DNS subdomain")
    if not metadata.get("namespace"):
        raise AssertionError(f"{kind} {name}: metadata.namespace is required")
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors]
        raise AssertionError(f"{kind} {name} does not match its CRD:\n" + "\n".join(lines))


@cache
def crd_schema(kind: str, version: str) -> dict[str, Any] | None:
    crd = yaml.load((CRD_DIR / CRD_FILES[kind]).read_text(), Loader=yaml.CSafeLoader)
    for served in crd["spec"]["versions"]:
        if served["name"] == version and served.get("served", True):
            return strict(served["schema"]["openAPIV3Schema"])
    return None


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI schema in which objects with declared properties reject
    undeclared ones, as the API server's pruning would silently drop them."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        properties = node.get("properties")
        if (
            isinstance(properties, dict)
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for child in (properties or {}).values():
            visit(child)
        for key in ("items", "additionalProperties"):
            visit(node.get(key))
        for key in ("allOf", "anyOf", "oneOf"):
            for child in node.get(key) or []:
                visit(child)

    visit(schema)
    return schema
