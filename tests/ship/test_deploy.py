"""``deploy/``: AutoStack's own Kustomize deployment renders with ``kubectl kustomize``,
passes ``kubernetes-validate --strict`` and the hardening checks the generator's output
passes, and wires what two replicas on PostgreSQL need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.hardening import assert_all_hardened
from tests.support.k8s import render_overlay, validate_k8s

ROOT = Path(__file__).resolve().parents[2]
SECRET_ENV = {
    "AUTOSTACK_GITHUB_APP_ID": "github-app-id",
    "AUTOSTACK_GITHUB_PRIVATE_KEY": "github-private-key",
    "AUTOSTACK_WEBHOOK_SECRET": "webhook-secret",
    "AUTOSTACK_ARGOCD_TOKEN": "argocd-token",
    "AUTOSTACK_DATABASE_URL": "database-url",
}


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render_overlay(ROOT / "deploy")


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def test_renders_valid_and_hardened(objects: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Ingress",
            "Namespace",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )
    validate_k8s(objects)
    assert_all_hardened(objects)
    namespace = one(objects, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "autostack"


def test_two_replicas_with_distinct_probes(objects: list[dict[str, Any]]) -> None:
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    app = container(objects)
    assert app["image"] == "ghcr.io/autostack/autostack:0.1.0"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert "--no-setup" in app["args"]


def test_secrets_come_from_secret_key_refs_and_the_rest_from_the_config_map(
    objects: list[dict[str, Any]],
) -> None:
    app = container(objects)
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in app["env"] if "valueFrom" in e
    }
    assert refs == SECRET_ENV
    assert not [e for e in app["env"] if "value" in e]  # no literal values in the pod spec
    config = one(objects, "ConfigMap")
    (source,) = app["envFrom"]
    assert source["configMapRef"]["name"] == config["metadata"]["name"]
    assert not set(config["data"]) & set(SECRET_ENV)
    assert config["data"]["AUTOSTACK_DATA_DIR"] == "/var/lib/autostack"


def test_data_and_tmp_are_empty_dirs(objects: list[dict[str, Any]]) -> None:
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/var/lib/autostack"}
    for name in mounts.values():
        assert "emptyDir" in volumes[name] and volumes[name]["emptyDir"]["sizeLimit"]


def test_metrics_port_and_prometheus_annotations(objects: list[dict[str, Any]]) -> None:
    ports = {p["name"]: p for p in one(objects, "Service")["spec"]["ports"]}
    assert ports["metrics"]["targetPort"] == "http"
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(container(objects)["ports"][0]["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"


def test_only_the_webhook_is_public(objects: list[dict[str, Any]]) -> None:
    ingress = one(objects, "Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks/github", "Exact")]
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]


def test_network_policy_allows_dns_https_postgres_and_argocd_only(
    objects: list[dict[str, Any]],
) -> None:
    policy = one(objects, "NetworkPolicy")["spec"]
    assert [p["port"] for rule in policy["ingress"] for p in rule["ports"]] == ["http"]
    egress_ports = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {
        (53, "UDP"),
        (53, "TCP"),
        (443, "TCP"),
        (5432, "TCP"),
        (8080, "TCP"),
    }
    for rule in policy["egress"]:
        assert rule.get("ports"), "an egress rule without ports opens every port"
