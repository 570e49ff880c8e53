"""App names: DNS-1123 labels, derived from a repository name or given by the user."""

from __future__ import annotations

import re

from generators.errors import GeneratorError

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# Room for "-<env>" in the Argo CD Application name and Kubernetes' 63-character limit.
MAX_APP_NAME = 40


def validate_app_name(name: str, source: str = "--name") -> str:
    """Return ``name`` if it is a usable app name, else raise a one-line error.

    The name becomes a Kubernetes label, a namespace part, a path segment in the GitOps repo
    and an Argo CD Application name, so it must be a DNS-1123 label and nothing else.
    """
    shown = repr(name)[1:-1]  # newlines and control characters become visible escapes
    if not name:
        raise GeneratorError(source, "app name is empty")
    if len(name) > MAX_APP_NAME:
        raise GeneratorError(
            source, f"app name '{shown[:60]}' is longer than {MAX_APP_NAME} characters"
        )
    if not DNS_LABEL.match(name):
        raise GeneratorError(
            source,
            f"app name '{shown}' is not a DNS-1123 label: use lower-case letters, digits "
            "and '-', starting and ending with a letter or digit",
        )
    return name


def derive_app_name(repo_name: str) -> str:
    """Lower-case a repository or directory name into a DNS-1123 label (``My_App`` ->
    ``my-app``), as DESIGN.md's default for ``<app>``."""
    label = re.sub(r"[^a-z0-9]+", "-", repo_name.lower()).strip("-")
    label = label[:MAX_APP_NAME].rstrip("-")
    if not label:
        raise GeneratorError(
            repo_name, "cannot derive an app name from this name", hint="pass --name"
        )
    return label
