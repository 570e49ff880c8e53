"""Every rendered workload is hardened (PSS restricted, kube-score, kube-linter, Polaris
defaults), and the checker itself catches each weakening."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from generators.gitops import app_files
from tests.support.gitops_cases import CONFIG, SPECS, nothing, write_tree
from tests.support.hardening import assert_all_hardened, assert_hardened, pod_spec
from tests.support.k8s import render_overlay

ENVS = ("dev", "staging", "prod")
Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Objects]:
    root = tmp_path_factory.mktemp("gitops")
    for spec in SPECS.values():
        write_tree(root, app_files(spec, CONFIG, nothing))
    return {
        (app, env): render_overlay(root / "apps" / app / "overlays" / env)
        for app in SPECS
        for env in ENVS
    }


@pytest.mark.parametrize("app", sorted(SPECS))
@pytest.mark.parametrize("env", ENVS)
def test_every_rendered_workload_is_hardened(
    renders: dict[tuple[str, str], Objects], app: str, env: str
) -> None:
    assert_all_hardened(renders[(app, env)])


def test_the_migration_job_is_hardened_like_the_server(
    renders: dict[tuple[str, str], Objects],
) -> None:
    objects = renders[("shop", "prod")]
    job = next(o for o in objects if o["kind"] == "Job")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert_hardened(job)
    job_container = pod_spec(job)["containers"][0]
    server_container = pod_spec(deployment)["containers"][0]
    for key in ("securityContext", "resources", "volumeMounts", "imagePullPolicy"):
        assert job_container[key] == server_container[key]


def deployment_of(renders: dict[tuple[str, str], Objects]) -> dict[str, Any]:
    objects = renders[("web", "prod")]
    return copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment"))


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod_spec(obj)["containers"][0]
    return container


def _no_spread(obj: dict[str, Any]) -> None:
    pod_spec(obj).pop("topologySpreadConstraints")
    pod_spec(obj).pop("affinity")


WEAKENINGS: dict[str, Callable[[dict[str, Any]], object]] = {
    "root allowed": lambda o: pod_spec(o)["securityContext"].update(runAsNonRoot=False),
    "other uid": lambda o: pod_spec(o)["securityContext"].update(runAsUser=0),
    "no fsGroup": lambda o: pod_spec(o)["securityContext"].pop("fsGroup"),
    "no seccomp": lambda o: pod_spec(o)["securityContext"].pop("seccompProfile"),
    "escalation": lambda o: _container(o)["securityContext"].update(allowPrivilegeEscalation=True),
    "privileged": lambda o: _container(o)["securityContext"].update(privileged=True),
    "writable root": lambda o: _container(o)["securityContext"].pop("readOnlyRootFilesystem"),
    "capabilities kept": lambda o: _container(o)["securityContext"].pop("capabilities"),
    "capability added": lambda o: _container(o)["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "no cpu limit": lambda o: _container(o)["resources"]["limits"].pop("cpu"),
    "no storage request": lambda o: _container(o)["resources"]["requests"].pop("ephemeral-storage"),
    "no readiness": lambda o: _container(o).pop("readinessProbe"),
    "no startup": lambda o: _container(o).pop("startupProbe"),
    "same probes": lambda o: _container(o).update(livenessProbe=_container(o)["readinessProbe"]),
    "token mounted": lambda o: pod_spec(o).update(automountServiceAccountToken=True),
    "default account": lambda o: pod_spec(o).update(serviceAccountName="default"),
    "host network": lambda o: pod_spec(o).update(hostNetwork=True),
    "latest tag": lambda o: _container(o).update(image="ghcr.io/acme/web:latest"),
    "no tag": lambda o: _container(o).update(image="ghcr.io/acme/web"),
    "implicit pull policy": lambda o: _container(o).pop("imagePullPolicy"),
    "no tmp": lambda o: _container(o).pop("volumeMounts"),
    "host path": lambda o: pod_spec(o)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "no spread": _no_spread,
    "no instance label": lambda o: o["metadata"]["labels"].pop("app.kubernetes.io/instance"),
    "no pod labels": lambda o: o["spec"]["template"]["metadata"]["labels"].pop(
        "app.kubernetes.io/part-of"
    ),
}


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_assert_hardened_catches(renders: dict[tuple[str, str], Objects], weakening: str) -> None:
    obj = deployment_of(renders)
    assert_hardened(obj)
    WEAKENINGS[weakening](obj)
    with pytest.raises(AssertionError):
        assert_hardened(obj)


def _without(objects: Objects, kind: str) -> Objects:
    return [o for o in objects if o["kind"] != kind]


def _with_replicas(objects: Objects) -> Objects:
    for obj in objects:
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = 3
    return objects


def _blocking_pdb(objects: Objects) -> Objects:
    for obj in objects:
        if obj["kind"] == "PodDisruptionBudget":
            obj["spec"].pop("unhealthyPodEvictionPolicy")
    return objects


def _wrong_target_port(objects: Objects) -> Objects:
    for obj in objects:
        if obj["kind"] == "Service":
            obj["spec"]["ports"][0]["targetPort"] = "web"
    return objects


def _ingress_to_nowhere(objects: Objects) -> Objects:
    for obj in objects:
        if obj["kind"] == "Ingress":
            obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {
                "name": "https"
            }
    return objects


CROSS_WEAKENINGS: dict[str, Callable[[Objects], Objects]] = {
    "Ingress port unknown": _ingress_to_nowhere,
    "no PDB": lambda objects: _without(objects, "PodDisruptionBudget"),
    "no NetworkPolicy": lambda objects: _without(objects, "NetworkPolicy"),
    "no ServiceAccount": lambda objects: _without(objects, "ServiceAccount"),
    "replicas under an HPA": _with_replicas,
    "PDB without eviction policy": _blocking_pdb,
    "Service port name unknown": _wrong_target_port,
}


@pytest.mark.parametrize("weakening", sorted(CROSS_WEAKENINGS))
def test_assert_all_hardened_catches(
    renders: dict[tuple[str, str], Objects], weakening: str
) -> None:
    objects = copy.deepcopy(renders[("web", "prod")])
    assert_all_hardened(objects)
    with pytest.raises(AssertionError):
        assert_all_hardened(CROSS_WEAKENINGS[weakening](objects))


def test_a_render_without_workloads_is_not_hardened() -> None:
    with pytest.raises(AssertionError, match="no workload"):
        assert_all_hardened([{"kind": "Service", "metadata": {"name": "x"}, "spec": {}}])
