"""A tiny real GitOps repository for the sandbox Argo CD tests: a bare remote and a clone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/tmp",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  labels: {{app: {app}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {app}}}
  template:
    metadata:
      labels: {{app: {app}}}
    spec:
      containers:
        - name: {app}
          image: {app}
          ports: [{{containerPort: 8080}}]
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {app}
spec:
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""

BASE_KUSTOMIZATION = "resources:\n  - deployment.yaml\n  - service.yaml\n"

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {app}-{env}
resources:
  - ../../base
images:
  - name: {app}
    newName: ghcr.io/acme/{app}
    newTag: "{tag}"
"""

APPLICATIONS = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-dev
  namespace: argocd
  labels: {{autostack.dev/app: web, autostack.dev/env: dev}}
spec:
  project: default
  source: {{repoURL: "{url}", path: apps/web/overlays/dev, targetRevision: HEAD}}
  destination: {{server: "https://kubernetes.default.svc", namespace: web-dev}}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-prod
  namespace: argocd
  labels: {{autostack.dev/app: web, autostack.dev/env: prod}}
spec:
  project: production
  source: {{repoURL: "{url}", path: apps/web/overlays/prod, targetRevision: main}}
  destination: {{server: "https://kubernetes.default.svc", namespace: web-prod}}
"""

APPLICATION_SET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: api
  namespace: argocd
spec:
  goTemplate: true
  generators:
    - git:
        repoURL: "{url}"
        revision: HEAD
        directories:
          - path: apps/api/overlays/*
  template:
    metadata:
      name: 'api-{{{{.path.basename}}}}'
      labels: {{autostack.dev/app: api, autostack.dev/env: '{{{{.path.basename}}}}'}}
    spec:
      project: default
      source: {{repoURL: "{url}", path: '{{{{.path.path}}}}', targetRevision: HEAD}}
      destination:
        server: https://kubernetes.default.svc
        namespace: 'api-{{{{.path.basename}}}}'
      syncPolicy:
        automated: {{}}
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


class GitopsRepo:
    """``remote`` is a bare repository (what the sandbox reads); ``work`` is a clone to edit."""

    def __init__(self, root: Path):
        self.remote = root / "gitops.git"
        self.work = root / "gitops-work"
        git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        git(root, "clone", "--quiet", str(self.remote), str(self.work))
        git(self.work, "checkout", "--quiet", "-B", "main")

    @property
    def url(self) -> str:
        return str(self.remote)

    def write(self, path: str, text: str) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        git(self.work, "push", "--quiet", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")

    def set_image(self, app: str, env: str, tag: str) -> str:
        self.write(
            f"apps/{app}/overlays/{env}/kustomization.yaml",
            OVERLAY.format(app=app, env=env, tag=tag),
        )
        return self.commit(f"Deploy {app} {tag} to {env}")

    def seed(self) -> str:
        """Two apps (web with dev/prod overlays, api through an ApplicationSet) and their apps."""
        for app, envs in (("web", ("dev", "prod")), ("api", ("dev",))):
            self.write(f"apps/{app}/base/deployment.yaml", DEPLOYMENT.format(app=app))
            self.write(f"apps/{app}/base/service.yaml", SERVICE.format(app=app))
            self.write(f"apps/{app}/base/kustomization.yaml", BASE_KUSTOMIZATION)
            for env in envs:
                overlay = OVERLAY.format(app=app, env=env, tag="v1")
                self.write(f"apps/{app}/overlays/{env}/kustomization.yaml", overlay)
        self.write("argocd/apps/web.yaml", APPLICATIONS.format(url=self.url))
        self.write("argocd/sets/api.yaml", APPLICATION_SET.format(url=self.url))
        self.write("README.md", "GitOps repository\n")
        return self.commit("Seed the GitOps repository")
