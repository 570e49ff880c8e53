"""The files of a new GitOps repository (``autostack init``): ``gitops-skeleton/`` rendered
for one repository URL and set of environments, plus one AppProject per environment."""

from __future__ import annotations

from pathlib import Path

from generators.config import (
    DEFAULT_ENVIRONMENTS,
    Environment,
    GitOpsConfig,
    check_argocd_namespace,
    check_environment_names,
    project_name,
)
from generators.errors import GeneratorError
from generators.templating import SKELETON_DIR, environment, render

TEMPLATE_SUFFIX = ".j2"
IN_CLUSTER = "https://kubernetes.default.svc"


def skeleton_files(
    repo_url: str,
    environments: tuple[Environment, ...] = DEFAULT_ENVIRONMENTS,
    *,
    default_branch: str = "main",
    argocd_namespace: str = "argocd",
    destination_server: str = IN_CLUSTER,
    ingress_domain: str | None = None,
    ingress_class: str | None = None,
) -> dict[str, bytes]:
    """Every file of a new GitOps repository, as repo-relative POSIX paths."""
    if not repo_url.strip():
        raise GeneratorError("repo_url", "must name the URL Argo CD clones the repository from")
    if not environments:
        raise GeneratorError("environments", "at least one environment is needed")
    check_environment_names(tuple(environments), "environments")
    check_argocd_namespace(argocd_namespace, tuple(environments), "argocd_namespace")
    config = GitOpsConfig(
        repo_url=repo_url,
        environments=tuple(environments),
        default_branch=default_branch,
        argocd_namespace=argocd_namespace,
        destination_server=destination_server,
        ingress_domain=ingress_domain,
        ingress_class=ingress_class,
    )
    files = {rel: _render_skeleton_file(path, config) for rel, path in _skeleton_paths()}
    files.update(project_files(config))
    return dict(sorted(files.items()))


def project_files(config: GitOpsConfig) -> dict[str, bytes]:
    """One restrictive AppProject per environment, at ``argocd/projects/<project>.yaml``."""
    return {project_path(env.name): _project(config, env.name) for env in config.environments}


def project_path(env: str) -> str:
    return f"argocd/projects/{project_name(env)}.yaml"


def _project(config: GitOpsConfig, env: str) -> bytes:
    text = render(
        "argocd/project.yaml.j2",
        env=env,
        project=project_name(env),
        argocd_namespace=config.argocd_namespace,
        repo_url=config.repo_url,
        server=config.destination_server,
    )
    return text.encode()


def _skeleton_paths() -> list[tuple[str, Path]]:
    """(repo-relative output path, template path), sorted so output order is stable."""
    found = []
    for path in sorted(SKELETON_DIR.rglob("*")):
        if path.is_file():
            rel = path.relative_to(SKELETON_DIR).as_posix()
            found.append((rel.removesuffix(TEMPLATE_SUFFIX), path))
    return found


def _render_skeleton_file(path: Path, config: GitOpsConfig) -> bytes:
    if path.suffix != TEMPLATE_SUFFIX:
        return path.read_bytes()
    template = environment().from_string(path.read_text(encoding="utf-8"))
    return (template.render(config=config).rstrip("\n") + "\n").encode()
