"""The app repository's build workflow: build and push ``<registry>/<app>:<full sha>``."""

from __future__ import annotations

import re

from generators.errors import GeneratorError
from generators.templating import GENERATED_MARK, render

WORKFLOW_PATH = ".github/workflows/autostack-build.yml"
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\Z")
REGISTRY = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*\Z")


def image_repository(registry: str, app_name: str) -> str:
    """``ghcr.io/acme`` + ``shop`` -> ``ghcr.io/acme/shop``; the registry is validated."""
    registry = registry.strip().rstrip("/").lower()
    if not REGISTRY.match(registry) or "." not in registry.split("/")[0]:
        raise GeneratorError(
            "--registry",
            f"{registry!r} is not a registry such as ghcr.io/OWNER or "
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        )
    return f"{registry}/{app_name}"


def build_workflow(image: str, *, context: str = ".", default_branch: str = "main") -> str:
    host = image.split("/", 1)[0]
    ecr = ECR_HOST.match(host)
    prefix = "" if context in ("", ".") else context.rstrip("/") + "/"
    return render(
        "workflow/autostack-build.yml.j2",
        mark=GENERATED_MARK,
        image=image,
        registry_host=host,
        ecr=bool(ecr),
        ecr_region=ecr.group(2) if ecr else "",
        context=context or ".",
        dockerfile=f"{prefix}Dockerfile",
        default_branch=default_branch,
    )
