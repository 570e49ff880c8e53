"""``autostack init --with-autostack``: AutoStack itself as an app of the GitOps
repository, so that the bot is deployed and upgraded by the flow it provides.

The base is ``deploy/base`` copied verbatim (one definition of AutoStack's deployment,
tested once); the Argo CD Application comes from the generator, so it follows the same
conventions as every other app. Only the production environment gets AutoStack: a GitHub
App has one webhook URL, so one AutoStack serves it; a second one needs an App of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from generators import changeset, tools, yamlio
from generators.config import Environment, GitOpsConfig, app_namespace, overlay_dir
from generators.gitops import application, production_environment
from generators.model import AppSpec
from generators.pipeline import load_gitops_config
from generators.templating import GENERATED_MARK, ROOT

APP = "autostack"
DEPLOY_DIR = ROOT / "deploy"
PORT = 8000
# deploy/base/networkpolicy.yaml: the egress rule to Argo CD's API server.
ARGOCD_EGRESS_RULE = 2
GITHUB_REPO = re.compile(r"[:/]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
COMMIT_MESSAGE = "Add AutoStack itself as an app\n\nCreated by `autostack init --with-autostack`."


def deploy_image() -> tuple[str, str]:
    """The image repository and tag of ``deploy/kustomization.yaml``: one place to bump."""
    path = DEPLOY_DIR / "kustomization.yaml"
    data = yamlio.load(path.read_text(encoding="utf-8"), str(path))
    (entry,) = [i for i in data["images"] if i["name"] == APP]
    return str(entry["newName"]), str(entry["newTag"])


def autostack_files(
    config: GitOpsConfig, read_existing: Callable[[str], bytes | None]
) -> dict[str, bytes]:
    """AutoStack's base, its production overlay (only when missing: it is the user's
    once it exists) and its Argo CD Application, as repo-relative paths."""
    env = production_environment(config)
    image, tag = deploy_image()
    header = (
        f"# {GENERATED_MARK}: a copy of AutoStack's deploy/base; "
        f"change apps/{APP}/overlays/{env.name}/ instead.\n"
    ).encode()
    files = {
        f"apps/{APP}/base/{path.name}": header + path.read_bytes()
        for path in sorted((DEPLOY_DIR / "base").glob("*.yaml"))
    }
    overlay_path = f"{overlay_dir(APP, env.name)}/kustomization.yaml"
    if read_existing(overlay_path) is None:
        files[overlay_path] = overlay(config, env, image, tag).encode()
    spec = AppSpec(name=APP, image=image, port=PORT, health_path="/readyz")
    files[f"argocd/apps/{APP}-{env.name}.yaml"] = application(spec, config, env, hpa=False)
    return dict(sorted(files.items()))


def overlay(config: GitOpsConfig, env: Environment, image: str, tag: str) -> str:
    """The production overlay: namespace, what the repository already tells (its own
    name, Argo CD's namespace, the ingress domain) and the ``images:`` entry."""
    namespace = app_namespace(APP, env.name)
    literals = [f"AUTOSTACK_ARGOCD_URL=https://argocd-server.{config.argocd_namespace}.svc"]
    repo = gitops_repo(config.repo_url)
    if repo:
        literals.append(f"AUTOSTACK_GITOPS_REPO={repo}")
    patches = []
    host = config.ingress_host(APP, env.name)
    if host:
        literals.append(f"AUTOSTACK_PUBLIC_URL=https://{host}")
        patches.append(_ingress_patch(host))
    if config.argocd_namespace != "argocd":
        patches.append(_argocd_namespace_patch(config.argocd_namespace))
    data: dict[str, object] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": ["../../base"],
        "labels": [
            {
                "pairs": {
                    "app.kubernetes.io/instance": namespace,
                    "app.kubernetes.io/managed-by": "autostack",
                },
                "includeTemplates": True,
            }
        ],
        "configMapGenerator": [{"name": APP, "behavior": "merge", "literals": literals}],
    }
    if patches:
        data["patches"] = patches
    data["images"] = [{"name": APP, "newName": image, "newTag": tag}]
    intro = (
        f"# AutoStack itself in {env.name}. This overlay is yours: AutoStack created it and\n"
        "# never overwrites it; upgrading AutoStack is changing newTag below.\n"
        f"# Its Secret is not in git: create `{APP}` in namespace {namespace} with the keys\n"
        "# listed in ../../base/deployment.yaml before the first sync.\n"
    )
    return intro + yaml.safe_dump(data, sort_keys=False, width=100)


def gitops_repo(repo_url: str) -> str | None:
    """``owner/name`` of the GitOps repository from the URL Argo CD clones it from."""
    match = GITHUB_REPO.search(repo_url)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def _ingress_patch(host: str) -> dict[str, object]:
    operations = [
        {"op": "replace", "path": "/spec/rules/0/host", "value": host},
        {"op": "replace", "path": "/spec/tls/0/hosts/0", "value": host},
    ]
    return {"target": {"kind": "Ingress", "name": APP}, "patch": json.dumps(operations)}


def _argocd_namespace_patch(namespace: str) -> dict[str, object]:
    path = (
        f"/spec/egress/{ARGOCD_EGRESS_RULE}/to/0/namespaceSelector/matchLabels/"
        "kubernetes.io~1metadata.name"
    )
    operations = [{"op": "replace", "path": path, "value": namespace}]
    return {"target": {"kind": "NetworkPolicy", "name": APP}, "patch": json.dumps(operations)}


def add_autostack(directory: Path) -> str:
    """Write AutoStack's files into the GitOps repository at ``directory`` and commit
    them; a repository that already has them is left alone."""
    config = load_gitops_config(directory)
    desired = autostack_files(config, changeset.ReadExisting(directory))
    plan = changeset.plan(directory, desired)
    if plan.empty:
        return f"AutoStack is already an app of {directory}; nothing changed"
    plan.apply()
    sha = tools.git_commit_all(directory, COMMIT_MESSAGE)
    made = f" (commit {sha[:12]})" if sha else ""
    env = production_environment(config).name
    return f"Added AutoStack itself as the app {APP} in {env}: {len(plan.writes)} files{made}"
