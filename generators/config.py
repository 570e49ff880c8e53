"""``autostack.yaml``: the GitOps repository's environments and their policies.

The file is read from the GitOps repo's default branch, by the generator and by the bot
(which never takes policies from a pull request's branch). Parsing returns plain frozen
values; every problem is a one-line :class:`GeneratorError` naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from generators import yamlio
from generators.errors import GeneratorError

CONFIG_FILE = "autostack.yaml"
PERMISSIONS = ("read", "triage", "write", "maintain", "admin")  # GitHub's, weakest first
LANDINGS = ("pr", "auto-merge", "direct")
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
MAX_SETTING = 2048  # characters of a string setting (URLs, branch and class names)
MAX_REPLICAS = 1000
MAX_TIMEOUT_MINUTES = 7 * 24 * 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Environment:
    """One deployment environment and the policy that guards it."""

    name: str
    deploy_permission: str = "write"  # least GitHub permission on the app repo to deploy
    require_approval: bool = False  # the PR must be approved
    require_checks: bool = False  # the commit's checks must be green
    landing: str = "pr"  # how a deployment lands on the GitOps repo: pr | auto-merge | direct
    auto_deploy: bool = False  # a successful build of the default branch deploys here
    auto_sync: bool = True  # Argo CD automated sync with prune and selfHeal
    timeout_minutes: int = 10  # a deployment not healthy by then has failed
    auto_rollback: bool = False  # revert a failed deployment automatically
    replicas: int = 1

    def permits(self, permission: str) -> bool:
        """Whether a user with GitHub ``permission`` on the app repo may deploy here."""
        if permission not in PERMISSIONS:
            return False
        return PERMISSIONS.index(permission) >= PERMISSIONS.index(self.deploy_permission)


DEFAULT_ENVIRONMENTS: tuple[Environment, ...] = (
    Environment("dev", landing="direct", auto_deploy=True),
    Environment("staging", landing="auto-merge"),
    Environment(
        "prod",
        deploy_permission="maintain",
        require_approval=True,
        require_checks=True,
        landing="pr",
        auto_rollback=True,
        replicas=2,
    ),
)


@dataclass(frozen=True)
class GitOpsConfig:
    """The whole of ``autostack.yaml``."""

    repo_url: str  # the GitOps repository as Argo CD clones it
    environments: tuple[Environment, ...] = DEFAULT_ENVIRONMENTS
    default_branch: str = "main"
    argocd_namespace: str = "argocd"
    destination_server: str = "https://kubernetes.default.svc"
    ingress_domain: str | None = None  # apps get <app>.<env>.<domain>; prod <app>.<domain>
    ingress_class: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def ingress_host(self, app: str, env: str) -> str | None:
        """The host an app serves on in ``env``: ``<app>.<domain>`` in prod,
        ``<app>.<env>.<domain>`` elsewhere; None without an ingress domain."""
        if not self.ingress_domain:
            return None
        if env == "prod":
            return f"{app}.{self.ingress_domain}"
        return f"{app}.{env}.{self.ingress_domain}"

    def environment(self, name: str) -> Environment | None:
        return next((env for env in self.environments if env.name == name), None)

    @property
    def environment_names(self) -> tuple[str, ...]:
        return tuple(env.name for env in self.environments)


def app_namespace(app: str, env: str) -> str:
    """The Kubernetes namespace of ``app`` in ``env``; the env suffix is what the
    environment's AppProject admits."""
    return f"{app}-{env}"


def application_name(app: str, env: str) -> str:
    """The Argo CD Application of ``app`` in ``env`` (DESIGN.md: ``<app>-<env>``)."""
    return f"{app}-{env}"


def project_name(env: str) -> str:
    """The AppProject that confines every Application of ``env``."""
    return f"autostack-{env}"


def overlay_dir(app: str, env: str) -> str:
    """The repo-relative Kustomize overlay directory of ``app`` in ``env``."""
    return f"apps/{app}/overlays/{env}"


def parse_config(text: str, path: str = CONFIG_FILE) -> GitOpsConfig:
    """Parse and validate ``autostack.yaml`` text."""
    data = yamlio.load(text, path)
    if not isinstance(data, dict):
        raise GeneratorError(path, "must be a mapping with 'repo_url' and 'environments'")
    known = {"version", "repo_url", "default_branch", "argocd", "ingress", "environments"}
    repo_url = _str(data, "repo_url", path, required=True)
    argocd = _mapping(data, "argocd", path)
    ingress = _mapping(data, "ingress", path)
    envs_raw = data.get("environments")
    if envs_raw is None:
        environments = DEFAULT_ENVIRONMENTS
    elif isinstance(envs_raw, list) and envs_raw:
        environments = tuple(_environment(item, i, path) for i, item in enumerate(envs_raw))
    else:
        raise GeneratorError(path, "environments: must be a non-empty list")
    check_environment_names(environments, path)
    argocd_namespace = _str(argocd, "namespace", path, "argocd.") or "argocd"
    check_argocd_namespace(argocd_namespace, environments, path)
    return GitOpsConfig(
        repo_url=repo_url or "",
        environments=environments,
        default_branch=_str(data, "default_branch", path) or "main",
        argocd_namespace=argocd_namespace,
        destination_server=_str(argocd, "destination_server", path, "argocd.")
        or "https://kubernetes.default.svc",
        ingress_domain=_str(ingress, "domain", path, "ingress."),
        ingress_class=_str(ingress, "class_name", path, "ingress."),
        extra={k: v for k, v in data.items() if k not in known},
    )


def check_environment_names(environments: tuple[Environment, ...], path: str) -> None:
    """Reject duplicate names and names that would blur the namespace scheme."""
    names = [env.name for env in environments]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GeneratorError(path, f"environments: duplicate name {duplicates[0]!r}")
    # Namespaces are "<app>-<env>" and each environment's AppProject admits "*-<env>": with
    # both "prod" and "eu-prod", the prod project would admit eu-prod's namespaces too.
    for name in names:
        clash = next((o for o in names if o != name and name.endswith(f"-{o}")), None)
        if clash:
            raise GeneratorError(
                path,
                f"environments: {name!r} ends with '-{clash}', so the {clash!r} project "
                f"would admit its namespaces; rename one of them",
            )


def check_argocd_namespace(
    namespace: str, environments: tuple[Environment, ...], path: str
) -> None:
    """Argo CD's namespace holds its repository credentials and every Application: it must
    be a plain namespace name that no environment's AppProject admits as a destination."""
    if not DNS_LABEL.match(namespace):
        raise GeneratorError(
            path, f"argocd.namespace: {namespace[:80]!r} is not a namespace name (DNS label)"
        )
    for env in environments:
        if namespace.endswith(f"-{env.name}"):
            raise GeneratorError(
                path,
                f"argocd.namespace: {namespace!r} ends with '-{env.name}', so the "
                f"{env.name!r} project would let apps deploy into Argo CD's namespace",
            )


def _environment(item: object, index: int, path: str) -> Environment:
    where = f"environments[{index}]"
    if not isinstance(item, dict):
        raise GeneratorError(path, f"{where}: must be a mapping with at least 'name'")
    name = item.get("name")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        raise GeneratorError(path, f"{where}.name: must be a DNS label such as 'prod'")
    defaults = next((e for e in DEFAULT_ENVIRONMENTS if e.name == name), Environment(name))
    values: dict[str, Any] = {"name": name}
    for key, default in vars(defaults).items():
        if key == "name" or key not in item:
            continue
        value = item[key]
        if type(value) is not type(default):
            kind = type(default).__name__
            raise GeneratorError(path, f"{where}.{key}: must be {kind}, got {value!r}")
        values[key] = value
    unknown = sorted(str(key) for key in set(item) - set(vars(defaults)))
    if unknown:
        raise GeneratorError(path, f"{where}: unknown key {unknown[0]!r}")
    env = Environment(**{**vars(defaults), **values})
    if env.deploy_permission not in PERMISSIONS:
        raise GeneratorError(
            path, f"{where}.deploy_permission: must be one of {', '.join(PERMISSIONS)}"
        )
    if env.landing not in LANDINGS:
        raise GeneratorError(path, f"{where}.landing: must be one of {', '.join(LANDINGS)}")
    if not 0 < env.timeout_minutes <= MAX_TIMEOUT_MINUTES:
        raise GeneratorError(
            path, f"{where}.timeout_minutes: must be from 1 to {MAX_TIMEOUT_MINUTES}"
        )
    if not 0 <= env.replicas <= MAX_REPLICAS:
        raise GeneratorError(path, f"{where}.replicas: must be from 0 to {MAX_REPLICAS}")
    return env


def _mapping(data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise GeneratorError(path, f"{key}: must be a mapping")
    return value


def _str(
    data: dict[str, Any], key: str, path: str, prefix: str = "", required: bool = False
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise GeneratorError(path, f"{prefix}{key}: is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise GeneratorError(path, f"{prefix}{key}: must be a non-empty string")
    if len(value) > MAX_SETTING or _CONTROL.search(value):
        raise GeneratorError(
            path,
            f"{prefix}{key}: must be one line of at most {MAX_SETTING} characters",
        )
    return value
