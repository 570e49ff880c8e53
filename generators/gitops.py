"""An app's files in the GitOps repository: the Kustomize base, the HPA component, one
overlay and one Argo CD Application per environment (and any missing AppProject).

The base, the component and the Applications are generator-owned and rewritten on every
run; overlays and AppProjects are the user's once they exist, so they are only created,
or have what the generator needs re-added (see :mod:`generators.overlay`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from generators import overlay
from generators.config import (
    CONFIG_FILE,
    Environment,
    GitOpsConfig,
    app_namespace,
    application_name,
    overlay_dir,
    project_name,
)
from generators.errors import GeneratorError
from generators.model import AppSpec
from generators.naming import validate_app_name
from generators.skeleton import project_files, project_path
from generators.templating import GENERATED_MARK, render

APP_CONFIG = ".github/autostack.yml"  # where replicas, resources and env vars come from
HPA_COMPONENT = "../../components/hpa"
HPA_MAX_FACTOR = 3  # the autoscaler may grow an app to three times its minimum
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?\Z")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*\Z")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


@dataclass(frozen=True)
class Workload:
    """What the base templates need, derived once from the spec and the config."""

    app: str
    port: int
    port_name: str  # "http" or "tcp": probes, Service and NetworkPolicy use the name
    service_port: int
    health_path: str | None  # None: TCP probes
    env_vars: tuple[tuple[str, str], ...]
    has_ingress: bool


def app_files(
    spec: AppSpec, config: GitOpsConfig, read_existing: Callable[[str], bytes | None]
) -> dict[str, bytes]:
    """Every GitOps file of ``spec``, as repo-relative POSIX paths; pure apart from
    ``read_existing``, which returns a file's current content or None."""
    validate(spec, config)
    work = _workload(spec, config)
    prod = production_environment(config)
    min_replicas = max(2, replicas_in(spec, prod))
    files = base_files(spec, config, work)
    files.update(hpa_files(spec.name, min_replicas))
    for env in config.environments:
        overlay_path = f"{overlay_dir(spec.name, env.name)}/{overlay.OVERLAY_FILE}"
        text, hpa = _overlay(
            spec, config, env, read_existing(overlay_path), work, prod, min_replicas
        )
        files[overlay_path] = text.encode()
        files[f"argocd/apps/{application_name(spec.name, env.name)}.yaml"] = application(
            spec, config, env, hpa=hpa
        )
        project = project_path(env.name)
        if read_existing(project) is None:
            # Added to autostack.yaml after init: the environment still needs its project.
            files[project] = project_files(config)[project]
    return dict(sorted(files.items()))


def production_environment(config: GitOpsConfig) -> Environment:
    """The environment named ``prod``, else the last one in promotion order."""
    return config.environment("prod") or config.environments[-1]


def replicas_in(spec: AppSpec, env: Environment) -> int:
    return spec.replicas.get(env.name, env.replicas)


def base_files(spec: AppSpec, config: GitOpsConfig, work: Workload) -> dict[str, bytes]:
    """``apps/<app>/base/``: the workload, its Service, identity, network and disruption
    policy, the Ingress when there is a host for it, the migration hook when needed."""
    context = {
        "app": spec.name,
        "port": work.port,
        "port_name": work.port_name,
        "service_port": work.service_port,
        "health_path": work.health_path,
        "resources": spec.resources,
        "env_vars": work.env_vars,
        "migrate_command": spec.migrate_command or (),
        "ingress_host": config.ingress_host(spec.name, "prod"),
        "ingress_class": config.ingress_class,
    }
    names = ["deployment", "service", "serviceaccount", "networkpolicy", "pdb"]
    if work.has_ingress:
        names.append("ingress")
    if spec.migrate_command:
        names.append("migrate-job")
    base = f"apps/{spec.name}/base"
    files = {
        f"{base}/{name}.yaml": _owned(spec.name, f"kustomize/base/{name}.yaml.j2", context)
        for name in names
    }
    resource_files = [f"{name}.yaml" for name in names]
    files[f"{base}/kustomization.yaml"] = _owned(
        spec.name,
        "kustomize/base/kustomization.yaml.j2",
        {**context, "resource_files": resource_files},
    )
    return files


def hpa_files(app: str, min_replicas: int) -> dict[str, bytes]:
    """The HPA as a Kustomize Component: any overlay switches it on with one line."""
    context = {
        "app": app,
        "min_replicas": min_replicas,
        "max_replicas": min_replicas * HPA_MAX_FACTOR,
    }
    folder = f"apps/{app}/components/hpa"
    return {
        f"{folder}/kustomization.yaml": _owned(
            app, "kustomize/components/hpa/kustomization.yaml.j2", context
        ),
        f"{folder}/hpa.yaml": _owned(app, "kustomize/components/hpa/hpa.yaml.j2", context),
    }


def application(spec: AppSpec, config: GitOpsConfig, env: Environment, *, hpa: bool) -> bytes:
    """The Argo CD Application ``<app>-<env>``."""
    text = render(
        "argocd/application.yaml.j2",
        mark=GENERATED_MARK,
        app=spec.name,
        env=env.name,
        name=application_name(spec.name, env.name),
        argocd_namespace=config.argocd_namespace,
        source_repo=spec.source_repo,
        project=project_name(env.name),
        repo_url=config.repo_url,
        branch=config.default_branch,
        path=overlay_dir(spec.name, env.name),
        server=config.destination_server,
        namespace=app_namespace(spec.name, env.name),
        auto_sync=env.auto_sync,
        hpa=hpa,
    )
    return text.encode()


def validate(spec: AppSpec, config: GitOpsConfig) -> None:
    """Reject what would render broken or unsafe YAML, with the file to fix."""
    validate_app_name(spec.name, "--name")
    for env in config.environments:
        namespace = app_namespace(spec.name, env.name)
        if len(namespace) > 63:
            raise GeneratorError("--name", f"namespace {namespace!r} is longer than 63 characters")
    if not overlay.IMAGE_NAME.match(spec.image):
        raise GeneratorError(
            "--registry", f"{spec.image!r} is not an image repository (no tag or digest)"
        )
    if not 0 < spec.port < 65536:
        raise GeneratorError(APP_CONFIG, f"port: {spec.port} is not a TCP port")
    if spec.health_path is not None and not HEALTH_PATH.match(spec.health_path):
        raise GeneratorError(APP_CONFIG, f"health_path: {spec.health_path!r} is not a URL path")
    _validate_settings(spec, config)
    if config.ingress_domain and not DOMAIN.match(config.ingress_domain):
        raise GeneratorError(
            CONFIG_FILE, f"ingress.domain: {config.ingress_domain!r} is not a DNS name"
        )


def _validate_settings(spec: AppSpec, config: GitOpsConfig) -> None:
    unknown = sorted(set(spec.replicas) - set(config.environment_names))
    if unknown:
        known = ", ".join(config.environment_names)
        raise GeneratorError(
            APP_CONFIG, f"replicas: unknown environment {unknown[0]!r} (known: {known})"
        )
    if any(count < 0 for count in spec.replicas.values()):
        raise GeneratorError(APP_CONFIG, "replicas: must not be negative")
    for key, value in spec.env.items():
        if not ENV_NAME.match(key):
            raise GeneratorError(APP_CONFIG, f"env: {key!r} is not a variable name")
        if "\0" in value:
            raise GeneratorError(APP_CONFIG, f"env: {key} contains a NUL character")
    for field, quantity in vars(spec.resources).items():
        if not QUANTITY.match(str(quantity)):
            raise GeneratorError(
                APP_CONFIG, f"resources: {field} {quantity!r} is not a Kubernetes quantity"
            )
    if spec.migrate_command is not None and not (
        spec.migrate_command and all(spec.migrate_command)
    ):
        raise GeneratorError(APP_CONFIG, "migrate: must be a non-empty command")


def _workload(spec: AppSpec, config: GitOpsConfig) -> Workload:
    http = spec.serves_http
    return Workload(
        app=spec.name,
        port=spec.port,
        port_name="http" if http else "tcp",
        service_port=80 if http else spec.port,
        health_path=spec.health_path if http else None,
        env_vars=tuple(sorted(spec.env.items())),
        # No domain, no Ingress: a placeholder host would either route nothing or collide
        # with another app's placeholder, and setting ingress.domain later adds it.
        has_ingress=http and bool(config.ingress_domain),
    )


def _overlay(
    spec: AppSpec,
    config: GitOpsConfig,
    env: Environment,
    existing: bytes | None,
    work: Workload,
    prod: Environment,
    min_replicas: int,
) -> tuple[str, bool]:
    """A new overlay, or the user's with what the generator needs re-added, and whether
    it switches the HPA component on (the Application must then leave replicas alone)."""
    path = f"{overlay_dir(spec.name, env.name)}/{overlay.OVERLAY_FILE}"
    namespace = app_namespace(spec.name, env.name)
    host = config.ingress_host(spec.name, env.name) if work.has_ingress else None
    if existing is not None:
        try:
            text = existing.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GeneratorError(path, "is not UTF-8 text") from exc
        text = overlay.ensure_managed(
            text,
            app=spec.name,
            namespace=namespace,
            new_name=spec.image,
            ingress_host=host,
            path=path,
        )
        return text, HPA_COMPONENT in overlay.components(text, path)
    replicas = replicas_in(spec, env)
    # The autoscaler takes over where production runs more than one replica.
    hpa = env.name == prod.name and replicas >= 2
    text = render(
        "kustomize/overlay/kustomization.yaml.j2",
        app=spec.name,
        env=env.name,
        namespace=namespace,
        hpa=hpa,
        min_replicas=min_replicas,
        replicas=replicas,
        ingress_host=host,
        image=spec.image,
        placeholder=overlay.PLACEHOLDER_TAG,
    )
    return text, hpa


def _owned(app: str, template: str, context: dict[str, object]) -> bytes:
    """A generator-owned file: the marker line first, so users (and the change set) know."""
    header = (
        f"# {GENERATED_MARK}: edits are overwritten; change apps/{app}/overlays/<env>/ instead.\n"
    )
    return (header + render(template, **context)).encode()
