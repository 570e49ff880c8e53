"""``deploy/helm/autostack``: rendered by Helm itself (Helm's Go SDK, through
helm-python-sdk), its values checked against ``values.schema.json``, the objects validated
with ``kubernetes-validate --strict`` and held to the hardening checks of the generated
workloads and of ``deploy/``'s Kustomize base, which it must match."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.support.hardening import assert_all_hardened
from tests.support.k8s import render_overlay, validate_k8s

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "autostack"
# The least an install needs, as the README's helm install gives it.
MINIMAL: dict[str, Any] = {
    "config": {"gitopsRepo": "acme/gitops"},
    "credentials": {"existingSecret": "autostack"},
    "database": {"existingSecret": "autostack"},
    "ingress": {"enabled": True, "className": "nginx", "host": "autostack.acme.dev"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
}
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
Objects = list[dict[str, Any]]


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = value
    return result


def render(*layers: dict[str, Any], name: str = "autostack") -> Objects:
    """What ``helm install NAME -n autostack`` would apply with ``layers`` as values."""
    values = merged(*layers)
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name=name, namespace="autostack", is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith("NOTES.txt"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def one(objects: Objects, kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(deployment)["env"]}


def kubernetes_objects(objects: Objects) -> Objects:
    """What kubernetes-validate knows: everything but the Prometheus Operator's kinds."""
    return [o for o in objects if not o["apiVersion"].startswith("monitoring.coreos.com/")]


@pytest.fixture(scope="module")
def minimal() -> Objects:
    return render(MINIMAL)


def test_renders_valid_and_hardened(minimal: Objects) -> None:
    kinds = sorted(o["kind"] for o in minimal)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Ingress",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]
    )
    validate_k8s(kubernetes_objects(minimal))
    assert_all_hardened(minimal)


def test_the_pod_matches_the_kustomize_base(minimal: Objects) -> None:
    """One hardening, two packagings: the chart's pod is deploy/'s pod, field by field."""
    base = one(render_overlay(ROOT / "deploy"), "Deployment")
    chart = one(minimal, "Deployment")
    for spec in (base, chart):
        assert spec["spec"]["strategy"] == base["spec"]["strategy"]
    base_pod, chart_pod = base["spec"]["template"]["spec"], chart["spec"]["template"]["spec"]
    for key in (
        "securityContext",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "terminationGracePeriodSeconds",
        "volumes",
    ):
        assert chart_pod[key] == base_pod[key], key
    same = (
        "command",
        "args",
        "ports",
        "startupProbe",
        "readinessProbe",
        "livenessProbe",
        "resources",
        "securityContext",
        "volumeMounts",
        "imagePullPolicy",
    )
    for key in same:
        assert container(chart)[key] == container(base)[key], key
    assert set(env_of(chart)) == {e["name"] for e in container(base)["env"]}
    assert chart["spec"]["replicas"] == base["spec"]["replicas"] == 2
    # The released image of deploy/ is the chart's default: one version, two packagings.
    assert container(chart)["image"] == container(base)["image"]


def test_secrets_come_from_secret_key_refs(minimal: Objects) -> None:
    env = env_of(one(minimal, "Deployment"))
    refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items() if "valueFrom" in e}
    assert {name: (ref["name"], ref["key"]) for name, ref in refs.items()} == {
        "AUTOSTACK_GITHUB_APP_ID": ("autostack", "github-app-id"),
        "AUTOSTACK_GITHUB_PRIVATE_KEY": ("autostack", "github-private-key"),
        "AUTOSTACK_WEBHOOK_SECRET": ("autostack", "webhook-secret"),
        "AUTOSTACK_ARGOCD_TOKEN": ("autostack", "argocd-token"),
        "AUTOSTACK_DATABASE_URL": ("autostack", "database-url"),
    }
    assert refs["AUTOSTACK_ARGOCD_TOKEN"]["optional"] is True
    assert not [e for e in env.values() if "value" in e]
    assert not [o for o in minimal if o["kind"] == "Secret"]  # the existing one is used
    config = one(minimal, "ConfigMap")["data"]
    assert config["AUTOSTACK_GITOPS_REPO"] == "acme/gitops"
    assert config["AUTOSTACK_PUBLIC_URL"] == "https://autostack.acme.dev"
    assert config["AUTOSTACK_LOG_FORMAT"] == "json"


def test_created_credentials_and_an_external_database_url() -> None:
    objects = render(
        MINIMAL,
        {
            "credentials": {
                "existingSecret": "",
                "githubAppId": 123456,
                "githubPrivateKey": PEM,
                "webhookSecret": "hook-secret",
            },
            "database": {
                "existingSecret": "",
                "url": "postgresql+psycopg://autostack:pw@db.internal:5432/autostack",
            },
        },
    )
    validate_k8s(kubernetes_objects(objects))
    credentials = one(objects, "Secret", "autostack")["stringData"]
    assert credentials == {
        "github-app-id": "123456",
        "github-private-key": PEM,
        "webhook-secret": "hook-secret",
    }
    database = one(objects, "Secret", "autostack-database")["stringData"]
    assert database == {
        "database-url": "postgresql+psycopg://autostack:pw@db.internal:5432/autostack"
    }
    url = env_of(one(objects, "Deployment"))["AUTOSTACK_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert (url["name"], url["key"]) == ("autostack-database", "database-url")


def test_the_bundled_postgresql_for_trials() -> None:
    objects = render(MINIMAL, {"database": {"existingSecret": ""}, "postgresql": {"enabled": True}})
    validate_k8s(kubernetes_objects(objects))
    assert_all_hardened(objects)  # the database pod too: uid 10001, read-only root, probes
    database = one(objects, "StatefulSet", "autostack-postgresql")
    password = one(objects, "Secret", "autostack-postgresql")["stringData"]["password"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    env = env_of(one(objects, "Deployment"))
    assert env["AUTOSTACK_DATABASE_URL"]["value"] == (
        "postgresql+psycopg://autostack:$(POSTGRES_PASSWORD)@autostack-postgresql:5432/autostack"
    )
    # $(POSTGRES_PASSWORD) expands only from a variable defined before it.
    names = list(env)
    assert names.index("POSTGRES_PASSWORD") < names.index("AUTOSTACK_DATABASE_URL")
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "autostack-postgresql"
    claim = database["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    policy = one(objects, "NetworkPolicy", "autostack-postgresql")["spec"]
    (rule,) = policy["ingress"]
    server = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = rule["from"][0]["podSelector"]["matchLabels"]
    assert (
        selector.items() <= server.items() and selector["app.kubernetes.io/component"] == "server"
    )
    assert "egress" not in policy and "Egress" in policy["policyTypes"]

    given = render(
        MINIMAL,
        {
            "database": {"existingSecret": ""},
            "postgresql": {"enabled": True, "auth": {"password": "chosen1"}},
        },
    )
    assert one(given, "Secret", "autostack-postgresql")["stringData"]["password"] == "chosen1"


def test_ingress_routes_only_the_webhook_through_its_class(minimal: Objects) -> None:
    ingress = one(minimal, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    paths = [p for rule in ingress["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks/github", "Exact")]
    assert ingress["tls"] == [{"hosts": ["autostack.acme.dev"], "secretName": "autostack-tls"}]
    without = render(
        MINIMAL, {"ingress": {"enabled": False}, "config": {"publicUrl": "https://x.io"}}
    )
    assert not [o for o in without if o["kind"] == "Ingress"]


# The fields of the Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1) that the
# chart sets, as its API reference documents them; no CRD schema is available here.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object"}},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                        },
                    },
                },
            },
        },
    },
}


def test_service_monitor_scrapes_the_metrics_port(minimal: Objects) -> None:
    monitor = one(minimal, "ServiceMonitor")
    jsonschema.validate(monitor, SERVICE_MONITOR)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(minimal, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["autostack"]


def test_image_by_version_or_digest(minimal: Objects) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    image = container(one(minimal, "Deployment"))["image"]
    assert image == f"ghcr.io/autostack/autostack:{chart['appVersion']}"
    digest = "sha256:" + "ab" * 32
    pinned = render(MINIMAL, {"image": {"digest": digest}})
    assert container(one(pinned, "Deployment"))["image"] == f"ghcr.io/autostack/autostack@{digest}"


@pytest.mark.parametrize(
    "bad",
    [
        {"replicaCount": 0},
        {"replicas": 2},  # a misspelt key is refused, not ignored
        {"config": {"gitopsRepo": "not-owner-slash-name"}},
        {"config": {"logFormat": "xml"}},
        {"config": {"extraEnv": {"PATH": "/tmp"}}},
        {"image": {"digest": "latest"}},
        {"ingress": {"className": "Not A Class"}},
        {"resources": {"limits": {"cpu": "lots"}}},
        {"postgresql": {"auth": {"password": "has spaces"}}},
    ],
)
def test_the_schema_refuses(bad: dict[str, Any]) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(merged(MINIMAL, bad))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"gitopsRepo": ""}}, "config.gitopsRepo is required"),
        ({"database": {"existingSecret": ""}}, "give the database exactly one way"),
        ({"database": {"url": "postgresql://a:b@c/d"}}, "give the database exactly one way"),
        ({"credentials": {"existingSecret": ""}}, "credentials.githubAppId"),
        ({"ingress": {"enabled": False}}, "set config.publicUrl"),
    ],
)
def test_incomplete_values_are_refused_with_what_to_set(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(MINIMAL, values)


def test_lint_is_clean_and_the_render_deterministic(minimal: Objects) -> None:
    report = helm.lint(CHART, MINIMAL, strict=True, kube_version="v1.33.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    assert render(MINIMAL) == minimal
    named = render(MINIMAL, name="prod")
    assert one(named, "Deployment")["metadata"]["name"] == "prod-autostack"
