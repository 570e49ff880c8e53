"""A few AppSpecs that between them cover what the GitOps generator varies on, and a
helper that writes a generated file map to disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from generators.config import GitOpsConfig
from generators.model import AppSpec, Resources

REPO_URL = "https://github.com/acme/gitops.git"
CONFIG = GitOpsConfig(repo_url=REPO_URL, ingress_domain="apps.example.com", ingress_class="nginx")

SPECS: dict[str, AppSpec] = {
    # HTTP with a health path; prod's policy (2 replicas) switches the HPA on.
    "web": AppSpec(
        name="web",
        image="ghcr.io/acme/web",
        port=8000,
        health_path="/healthz",
        source_repo="acme/web",
    ),
    # A TCP service: no health path, no Ingress, TCP probes.
    "broker": AppSpec(
        name="broker",
        image="registry.example.com:5000/team/broker",
        port=5672,
        health_path=None,
        serves_http=False,
        replicas={"prod": 1},
    ),
    # Migrations (a PreSync Job) and environment variables (a ConfigMap).
    "shop": AppSpec(
        name="shop",
        image="ghcr.io/acme/shop",
        port=3000,
        health_path="/api/health?probe=1",
        env={"LOG_LEVEL": "info", "GREETING": "hello: world # not a comment", "EMPTY": ""},
        migrate_command=("bundle", "exec", "rails", "db:migrate"),
        resources=Resources(cpu_request="250m", memory_request="256Mi", memory_limit="1Gi"),
    ),
    # Several replicas everywhere, HTTP without a health path.
    "api": AppSpec(
        name="api",
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/api",
        port=8080,
        health_path=None,
        replicas={"dev": 2, "staging": 3, "prod": 4},
    ),
}


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def reader(root: Path) -> Callable[[str], bytes | None]:
    def read(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None

    return read


def nothing(rel: str) -> bytes | None:
    return None
