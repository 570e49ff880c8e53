"""The GitOps generator: real Kustomize renders, Kubernetes and Argo CD schema checks, and
the contracts other parts rely on (names, paths, labels, ownership markers)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.config import DEFAULT_ENVIRONMENTS, Environment, GitOpsConfig
from generators.errors import GeneratorError
from generators.gitops import app_files
from generators.model import AppSpec
from generators.overlay import PLACEHOLDER_TAG
from generators.templating import GENERATED_MARK
from tests.support.gitops_cases import CONFIG, REPO_URL, SPECS, nothing, write_tree
from tests.support.k8s import load_documents, render_overlay, validate_argocd, validate_k8s

ENVS = ("dev", "staging", "prod")
Rendered = dict[tuple[str, str], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gitops")
    for spec in SPECS.values():
        write_tree(root, app_files(spec, CONFIG, nothing))
    return root


@pytest.fixture(scope="module")
def rendered(tree: Path) -> Rendered:
    return {
        (app, env): render_overlay(tree / "apps" / app / "overlays" / env)
        for app in SPECS
        for env in ENVS
    }


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def test_every_rendered_object_passes_strict_kubernetes_validation(rendered: Rendered) -> None:
    validate_k8s(obj for objects in rendered.values() for obj in objects)


def test_every_argocd_object_matches_its_crd(tree: Path) -> None:
    paths = sorted((tree / "argocd").rglob("*.yaml"))
    assert len(paths) == len(SPECS) * len(ENVS) + len(ENVS)
    for path in paths:
        for obj in load_documents(path.read_text()):
            validate_argocd(obj)


def test_render_has_the_expected_kinds(rendered: Rendered) -> None:
    kinds = {key: sorted(o["kind"] for o in objects) for key, objects in rendered.items()}
    base = ["Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"]
    assert kinds[("broker", "prod")] == base
    assert kinds[("web", "dev")] == sorted([*base, "Ingress"])
    assert kinds[("web", "prod")] == sorted([*base, "Ingress", "HorizontalPodAutoscaler"])
    assert kinds[("shop", "staging")] == sorted([*base, "ConfigMap", "Ingress", "Job"])


def test_overlay_sets_namespace_image_placeholder_and_instance(rendered: Rendered) -> None:
    for (app, env), objects in rendered.items():
        for obj in objects:
            assert obj["metadata"]["namespace"] == f"{app}-{env}"
            assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == f"{app}-{env}"
        deployment = one(objects, "Deployment")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{SPECS[app].image}:{PLACEHOLDER_TAG}"


@pytest.mark.parametrize(
    ("app", "env", "replicas"),
    [("web", "dev", 1), ("web", "staging", 1), ("broker", "prod", 1), ("api", "staging", 3)],
)
def test_replicas_follow_the_spec_then_the_environment_policy(
    rendered: Rendered, app: str, env: str, replicas: int
) -> None:
    assert one(rendered[(app, env)], "Deployment")["spec"]["replicas"] == replicas
    assert not by_kind(rendered[(app, env)], "HorizontalPodAutoscaler")


@pytest.mark.parametrize(("app", "minimum"), [("web", 2), ("api", 4)])
def test_prod_with_several_replicas_is_autoscaled(
    rendered: Rendered, app: str, minimum: int
) -> None:
    objects = rendered[(app, "prod")]
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": app,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (minimum, minimum * 3)
    assert "replicas" not in one(objects, "Deployment")["spec"]


def test_ingress_host_per_environment(rendered: Rendered) -> None:
    hosts = {
        env: one(rendered[("web", env)], "Ingress")["spec"]["rules"][0]["host"] for env in ENVS
    }
    assert hosts == {
        "dev": "web.dev.apps.example.com",
        "staging": "web.staging.apps.example.com",
        "prod": "web.apps.example.com",
    }
    ingress = one(rendered[("web", "prod")], "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web", "port": {"name": "http"}}


def test_no_ingress_without_a_domain(tmp_path: Path) -> None:
    config = GitOpsConfig(repo_url=REPO_URL)
    write_tree(tmp_path, app_files(SPECS["web"], config, nothing))
    objects = render_overlay(tmp_path / "apps/web/overlays/dev")
    assert not by_kind(objects, "Ingress")
    assert not (tmp_path / "apps/web/base/ingress.yaml").exists()


def test_env_vars_become_a_hashed_configmap_the_pods_read(rendered: Rendered) -> None:
    objects = rendered[("shop", "dev")]
    config_map = one(objects, "ConfigMap")
    assert config_map["data"] == SPECS["shop"].env
    assert config_map["metadata"]["name"].startswith("shop-env-")
    for kind in ("Deployment", "Job"):
        container = one(objects, kind)["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert not by_kind(rendered[("web", "dev")], "ConfigMap")


def test_migrations_run_as_a_presync_hook(rendered: Rendered) -> None:
    job = one(rendered[("shop", "prod")], "Job")
    assert job["metadata"]["annotations"] == {
        "argocd.argoproj.io/hook": "PreSync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
    }
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == list(SPECS["shop"].migrate_command or ())
    assert container["image"] == f"ghcr.io/acme/shop:{PLACEHOLDER_TAG}"
    # The Service must never route requests to the migration pod.
    service = one(rendered[("shop", "prod")], "Service")
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert any(job_labels.get(k) != v for k, v in service["spec"]["selector"].items())


def test_probes_use_the_health_path_or_the_tcp_port(rendered: Rendered) -> None:
    web = one(rendered[("web", "dev")], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    shop = one(rendered[("shop", "dev")], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert shop["readinessProbe"]["httpGet"]["path"] == "/api/health?probe=1"
    broker = one(rendered[("broker", "dev")], "Deployment")["spec"]["template"]["spec"]
    container = broker["containers"][0]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "tcp"}
    assert container["ports"] == [{"name": "tcp", "containerPort": 5672, "protocol": "TCP"}]
    service = one(rendered[("broker", "dev")], "Service")
    assert service["spec"]["ports"][0]["port"] == 5672


def test_network_policy_admits_only_the_app_port_and_blocks_metadata(rendered: Rendered) -> None:
    policy = one(rendered[("web", "dev")], "NetworkPolicy")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    blocks = [
        peer["ipBlock"]
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]} in blocks


def test_applications(tree: Path) -> None:
    for app in SPECS:
        for env in ENVS:
            text = (tree / f"argocd/apps/{app}-{env}.yaml").read_text()
            obj = yaml.safe_load(text)
            assert obj["metadata"]["name"] == f"{app}-{env}"
            assert obj["metadata"]["labels"] == {"autostack.dev/app": app, "autostack.dev/env": env}
            assert obj["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
            spec = obj["spec"]
            assert spec["project"] == f"autostack-{env}"
            assert spec["source"] == {
                "repoURL": REPO_URL,
                "targetRevision": "main",
                "path": f"apps/{app}/overlays/{env}",
            }
            assert spec["destination"]["namespace"] == f"{app}-{env}"
            assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
            assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]
            autoscaled = app != "broker" and env == "prod"  # broker: 1 replica in prod
            assert ("ignoreDifferences" in spec) == autoscaled
            if autoscaled:
                assert spec["ignoreDifferences"] == [
                    {
                        "group": "apps",
                        "kind": "Deployment",
                        "name": app,
                        "jsonPointers": ["/spec/replicas"],
                    }
                ]
                assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]
    web = yaml.safe_load((tree / "argocd/apps/web-prod.yaml").read_text())
    assert web["metadata"]["annotations"] == {"autostack.dev/source-repo": "acme/web"}


def test_auto_sync_off_leaves_syncing_to_the_bot(tmp_path: Path) -> None:
    envs = tuple(replace(e, auto_sync=e.name != "prod") for e in DEFAULT_ENVIRONMENTS)
    files = app_files(SPECS["web"], replace(CONFIG, environments=envs), nothing)
    prod = yaml.safe_load(files["argocd/apps/web-prod.yaml"])
    dev = yaml.safe_load(files["argocd/apps/web-dev.yaml"])
    assert "automated" not in prod["spec"]["syncPolicy"]
    assert dev["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    validate_argocd(prod)


def test_custom_environments_and_argocd_settings(tmp_path: Path) -> None:
    config = GitOpsConfig(
        repo_url="git@github.com:acme/gitops.git",
        environments=(Environment("qa"), Environment("live", replicas=3)),
        default_branch="trunk",
        argocd_namespace="gitops",
        destination_server="https://prod-cluster.example.com:6443",
    )
    files = app_files(SPECS["web"], config, nothing)
    write_tree(tmp_path, files)
    live = yaml.safe_load(files["argocd/apps/web-live.yaml"])
    validate_argocd(live)
    assert live["metadata"]["namespace"] == "gitops"
    assert live["spec"]["source"]["targetRevision"] == "trunk"
    assert live["spec"]["destination"]["server"] == "https://prod-cluster.example.com:6443"
    assert "ignoreDifferences" in live["spec"]  # no "prod": the last environment scales
    objects = render_overlay(tmp_path / "apps/web/overlays/live")
    assert one(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3
    assert set(files) >= {
        "argocd/projects/autostack-qa.yaml",
        "argocd/projects/autostack-live.yaml",
    }


def test_generator_owned_files_are_marked_and_user_owned_are_not() -> None:
    files = app_files(SPECS["shop"], CONFIG, nothing)
    for path, content in files.items():
        first = content.decode().splitlines()[0]
        user_owned = "/overlays/" in path or path.startswith("argocd/projects/")
        assert (GENERATED_MARK in first) != user_owned, path
        assert (GENERATED_MARK.encode() in content) != user_owned, path
        if not user_owned:
            assert "edits are overwritten" in first


def test_existing_projects_are_left_alone() -> None:
    existing = {"argocd/projects/autostack-prod.yaml": b"# mine\n"}
    files = app_files(SPECS["web"], CONFIG, existing.get)
    assert "argocd/projects/autostack-prod.yaml" not in files
    assert "argocd/projects/autostack-dev.yaml" in files


def test_same_input_gives_byte_identical_output() -> None:
    spec = SPECS["shop"]
    reordered = replace(spec, env=dict(reversed(list(spec.env.items()))))
    first = app_files(spec, CONFIG, nothing)
    assert app_files(reordered, CONFIG, nothing) == first
    assert list(first) == sorted(first)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Web_App"}, "--name: app name 'Web_App' is not a DNS-1123 label"),
        ({"name": "a" * 60}, "is longer than 40 characters"),
        ({"name": "shop\n"}, "--name: app name 'shop\\n' is not a DNS-1123 label"),
        ({"image": "ghcr.io/acme/web:latest"}, "is not an image repository (no tag or digest)"),
        ({"image": "ghcr.io/acme/web\nkind: Secret"}, "is not an image repository"),
        ({"port": 70000}, ".github/autostack.yml: port: 70000 is not a TCP port"),
        ({"health_path": "/ok\nevil: 1"}, "health_path: '/ok\\nevil: 1' is not a URL path"),
        ({"env": {"BAD-NAME": "1"}}, "env: 'BAD-NAME' is not a variable name"),
        (
            {"replicas": {"prdo": 2}},
            "replicas: unknown environment 'prdo' (known: dev, staging, prod)",
        ),
        ({"migrate_command": ()}, "migrate: must be a non-empty command"),
    ],
)
def test_bad_input_is_a_one_line_error(change: dict[str, Any], message: str) -> None:
    spec: AppSpec = replace(SPECS["web"], **change)
    with pytest.raises(GeneratorError) as caught:
        app_files(spec, CONFIG, nothing)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value).replace("\\n", "")


def test_the_validators_reject_what_they_should(rendered: Rendered, tree: Path) -> None:
    app = yaml.safe_load((tree / "argocd/apps/web-dev.yaml").read_text())
    app["spec"]["syncPolicy"]["automatic"] = {"prune": True}  # misspelt "automated"
    with pytest.raises(AssertionError, match="automatic"):
        validate_argocd(app)
    deployment = one(rendered[("web", "dev")], "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(AssertionError, match="replica"):
        validate_k8s([broken])
    with pytest.raises(AssertionError, match="0 of 1 objects passed"):
        validate_k8s(
            [{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}]
        )
