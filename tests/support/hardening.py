"""Assertions that rendered workloads meet the Pod Security Standards *restricted* profile
and the default checks of kube-score, kube-linter and Polaris that AutoStack follows.

``assert_hardened(obj)`` checks one workload on its own; ``assert_all_hardened(objects)``
checks every workload of a render plus what only shows across objects (PDB, NetworkPolicy,
Service, ServiceAccount and HPA wiring).
"""

from __future__ import annotations

from typing import Any

APP_UID = 10001  # the user the generated Dockerfiles run as
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
SERVER_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}  # long-running: probes required
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
RESOURCES = ("cpu", "memory", "ephemeral-storage")
# PSS restricted: the only volume types allowed.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj["kind"]
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Pod":
        return obj["metadata"].get("labels") or {}
    if obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = obj["spec"]["template"]
    return (template.get("metadata") or {}).get("labels") or {}


def assert_hardened(obj: dict[str, Any], uid: int = APP_UID) -> None:
    """Fail with a message naming the object and the rule unless ``obj`` is hardened."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    where = f"{kind} {name}"
    assert kind in WORKLOAD_KINDS, f"{where}: not a workload"
    _check_labels(where, obj["metadata"].get("labels") or {})
    _check_labels(f"{where} pod template", pod_labels(obj))
    spec = pod_spec(obj)
    _check_pod(where, spec, uid)
    containers = spec.get("initContainers", []) + spec["containers"]
    for container in containers:
        _check_container(f"{where} container {container['name']}", container, spec, uid)
    if kind in SERVER_KINDS:
        for container in spec["containers"]:
            _check_probes(f"{where} container {container['name']}", container)
    if kind in ("Deployment", "StatefulSet"):
        affinity = (spec.get("affinity") or {}).get("podAntiAffinity")
        assert spec.get("topologySpreadConstraints") or affinity, (
            f"{where}: no topology spread constraints or pod anti-affinity"
        )


def assert_all_hardened(objects: list[dict[str, Any]], uid: int = APP_UID) -> None:
    """Every workload hardened, and each server workload covered by a PDB, a NetworkPolicy
    and an existing ServiceAccount; Services and HPAs point at something that exists."""
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    assert workloads, "no workload among the objects"
    for obj in workloads:
        assert_hardened(obj, uid)
        _check_wiring(obj, objects)
    for service in _of_kind(objects, "Service"):
        _check_service(service, workloads)
    for ingress in _of_kind(objects, "Ingress"):
        _check_ingress(ingress, _of_kind(objects, "Service"))
    for hpa in _of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        matches = [
            o for o in workloads if (o["kind"], _name(o)) == (target["kind"], target["name"])
        ]
        assert matches, f"HPA {_name(hpa)}: target {target['name']} does not exist"
        # kube-score: a replica count in the Deployment fights the HPA on every sync.
        assert "replicas" not in matches[0]["spec"], (
            f"{target['kind']} {target['name']}: sets replicas although an HPA owns them"
        )
        assert hpa["spec"].get("minReplicas", 1) >= 2, f"HPA {_name(hpa)}: minReplicas < 2"


def _check_labels(where: str, labels: dict[str, str]) -> None:
    missing = [key for key in REQUIRED_LABELS if not labels.get(key)]
    assert not missing, f"{where}: missing labels {missing}"


def _check_pod(where: str, spec: dict[str, Any], uid: int) -> None:
    assert spec.get("automountServiceAccountToken") is False, (
        f"{where}: automountServiceAccountToken must be false"
    )
    account = spec.get("serviceAccountName")
    assert account and account != "default", f"{where}: needs its own service account"
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(key), f"{where}: {key} must not be set"
    context = spec.get("securityContext") or {}
    assert context.get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot must be true"
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert context.get(key) == uid, f"{where}: pod {key} must be {uid}"
    assert (context.get("seccompProfile") or {}).get("type") == "RuntimeDefault", (
        f"{where}: pod seccompProfile must be RuntimeDefault"
    )
    for volume in spec.get("volumes", []):
        types = set(volume) - {"name"}
        assert types <= RESTRICTED_VOLUMES, f"{where}: volume {volume['name']} is {types}"


def _check_container(where: str, container: dict[str, Any], spec: dict[str, Any], uid: int) -> None:
    context = container.get("securityContext") or {}
    pod_context = spec.get("securityContext") or {}
    assert context.get("allowPrivilegeEscalation") is False, (
        f"{where}: allowPrivilegeEscalation must be false"
    )
    assert not context.get("privileged"), f"{where}: must not be privileged"
    assert context.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem writable"
    capabilities = context.get("capabilities") or {}
    assert "ALL" in (capabilities.get("drop") or []), f"{where}: must drop ALL capabilities"
    assert not capabilities.get("add"), f"{where}: adds capabilities"
    run_as_non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    assert run_as_non_root is True, f"{where}: runAsNonRoot must be true"
    user = context.get("runAsUser", pod_context.get("runAsUser"))
    assert user == uid, f"{where}: runs as user {user}, not {uid}"
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
    assert seccomp.get("type") == "RuntimeDefault", f"{where}: seccomp not RuntimeDefault"
    for key in ("requests", "limits"):
        values = (container.get("resources") or {}).get(key) or {}
        missing = [r for r in RESOURCES if r not in values]
        assert not missing, f"{where}: no {key} for {missing}"
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    assert "@sha256:" in image or (tag and tag != "latest"), f"{where}: image {image} unpinned"
    assert container.get("imagePullPolicy") in ("IfNotPresent", "Always"), (
        f"{where}: imagePullPolicy must be explicit"
    )
    assert not any(p.get("hostPort") for p in container.get("ports", [])), f"{where}: hostPort"
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    assert "/tmp" in mounts and "emptyDir" in volumes.get(mounts["/tmp"], {}), (
        f"{where}: no emptyDir at /tmp for the read-only root filesystem"
    )


def _check_probes(where: str, container: dict[str, Any]) -> None:
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container.get(probe), f"{where}: no {probe}"
    # kube-score: identical probes restart pods that are merely busy.
    assert container["readinessProbe"] != container["livenessProbe"], (
        f"{where}: readiness and liveness probes are identical"
    )


def _check_wiring(obj: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    where = f"{obj['kind']} {_name(obj)}"
    labels = pod_labels(obj)
    spec = pod_spec(obj)
    accounts = {_name(o) for o in _of_kind(objects, "ServiceAccount")}
    assert spec["serviceAccountName"] in accounts, (
        f"{where}: service account {spec['serviceAccountName']} is not rendered"
    )
    policies = [
        p for p in _of_kind(objects, "NetworkPolicy") if _selects(p["spec"]["podSelector"], labels)
    ]
    assert policies, f"{where}: no NetworkPolicy selects its pods"
    types = {t for p in policies for t in p["spec"].get("policyTypes", [])}
    assert {"Ingress", "Egress"} <= types, f"{where}: NetworkPolicy lacks {types}"
    if obj["kind"] not in SERVER_KINDS:
        return
    budgets = [
        p
        for p in _of_kind(objects, "PodDisruptionBudget")
        if _selects(p["spec"]["selector"], labels)
    ]
    assert budgets, f"{where}: no PodDisruptionBudget selects its pods"
    for budget in budgets:
        assert budget["spec"].get("unhealthyPodEvictionPolicy"), (
            f"PDB {_name(budget)}: unhealthyPodEvictionPolicy not set"
        )
        # kube-linter: maxUnavailable 0 (or minAvailable >= replicas) blocks every drain.
        assert budget["spec"].get("maxUnavailable", 1) not in (0, "0%"), (
            f"PDB {_name(budget)}: maxUnavailable 0 blocks node drains"
        )
        if "minAvailable" in budget["spec"] and "replicas" in obj["spec"]:
            assert budget["spec"]["minAvailable"] < obj["spec"]["replicas"], (
                f"PDB {_name(budget)}: minAvailable blocks node drains"
            )


def _check_service(service: dict[str, Any], workloads: list[dict[str, Any]]) -> None:
    selector = service["spec"].get("selector") or {}
    targets = [
        w for w in workloads if selector and _selects({"matchLabels": selector}, pod_labels(w))
    ]
    assert targets, f"Service {_name(service)}: selects no pods"
    port_names = {
        port.get("name")
        for target in targets
        for container in pod_spec(target)["containers"]
        for port in container.get("ports", [])
    }
    for port in service["spec"]["ports"]:
        target_port = port.get("targetPort")
        if isinstance(target_port, str):
            assert target_port in port_names, (
                f"Service {_name(service)}: targetPort {target_port} is no container port"
            )


def _check_ingress(ingress: dict[str, Any], services: list[dict[str, Any]]) -> None:
    """kube-score ingress-targets-service: every backend names a Service and its port."""
    ports = {_name(s): s["spec"]["ports"] for s in services}
    for rule in ingress["spec"].get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            backend = path["backend"]["service"]
            where = f"Ingress {_name(ingress)}: backend {backend['name']}"
            assert backend["name"] in ports, f"{where} is not a rendered Service"
            port = backend["port"]
            assert any(
                p.get("name") == port.get("name") or p["port"] == port.get("number")
                for p in ports[backend["name"]]
            ), f"{where} has no port {port}"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels") or {}
    assert not selector.get("matchExpressions"), "matchExpressions are not checked here"
    return all(labels.get(key) == value for key, value in match.items())


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _name(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])
