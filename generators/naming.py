"""App names: DNS-1123 labels, derived from a repository name or given by the user.

Every name the generator uses, whatever it came from (``--name``, ``name:`` in
``.github/autostack.yml``, the repository or directory name), goes through
:func:`validate_app_name`: it becomes a path segment (``apps/<name>/``), a namespace part,
a label value and an Argo CD Application name.
"""

from __future__ import annotations

import re

from generators.errors import GeneratorError

# \Z, not $: "$" also matches before a trailing newline, and "shop\n" is no label.
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")
# Room for "-<env>" in the Argo CD Application name and Kubernetes' 63-character limit.
MAX_APP_NAME = 40


def is_app_name(name: object) -> bool:
    """Whether ``name`` is usable as an app name (for callers that skip, not refuse)."""
    return isinstance(name, str) and len(name) <= MAX_APP_NAME and bool(DNS_LABEL.match(name))


def validate_app_name(name: str, source: str = "--name") -> str:
    """Return ``name`` if it is a usable app name, else raise a one-line error naming
    ``source`` (where the name came from)."""
    if not isinstance(name, str):
        raise GeneratorError(source, f"app name must be a string, got {type(name).__name__}")
    # Escapes make newlines and control characters visible; a huge value is cut first.
    shown = repr(name[:60])[1:-1]
    if not name:
        raise GeneratorError(source, "app name is empty")
    if len(name) > MAX_APP_NAME:
        raise GeneratorError(
            source, f"app name '{shown}...' is longer than {MAX_APP_NAME} characters"
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
            repo_name[:100], "cannot derive an app name from this name", hint="pass --name"
        )
    return validate_app_name(label, repo_name[:100])
