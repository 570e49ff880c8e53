"""Detection of Elixir apps from mix.exs, Phoenix first: the OTP app name the release is
built under, the Elixir version, assets, and the release's migration entry point."""

from __future__ import annotations

import re

from generators.detect import register
from generators.detect.versions import DEFAULTS, clean_version, tool_version
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

APP_RE = re.compile(r"\bapp:\s*:([a-z_][a-z0-9_]*)")
ELIXIR_REQ_RE = re.compile(r"\belixir:\s*\"([^\"]+)\"")
DEP_RE = re.compile(r"\{\s*:([a-z_][a-z0-9_]*)\s*,")
RELEASE_RE = re.compile(r"defmodule\s+([A-Z][\w.]*\.Release)\s+do.*?\bdef\s+migrate\b", re.DOTALL)
WEB_SERVERS = ("bandit", "plug_cowboy")
PORT = 4000  # Phoenix's runtime.exs reads PORT, defaulting to 4000


@register("elixir")
def detect_elixir(tree: SourceTree) -> Stack | None:
    if not tree.is_file("mix.exs"):
        return None
    mix = tree.read_text("mix.exs")
    if "def project" not in mix:
        raise GeneratorError(tree.display("mix.exs"), "defines no project/0 function")
    match = APP_RE.search(mix)
    if match is None:
        raise GeneratorError(tree.display("mix.exs"), "has no 'app: :name' in project/0")
    app = match.group(1)
    deps = set(DEP_RE.findall(mix))
    evidence = [f"mix.exs -> OTP app :{app}, released as /app/bin/{app}"]
    version, source = _version(tree, mix)
    evidence.append(f"{source} -> elixir {version}")
    locked = tree.is_file("mix.lock")
    evidence.append("mix.lock -> mix deps.get" if locked else "no mix.lock")
    phoenix = "phoenix" in deps
    if phoenix:
        evidence.append("depends on :phoenix")
    migrate = _migrate(tree, app, deps, evidence)
    return Stack(
        language="elixir",
        framework="phoenix" if phoenix else None,
        package_manager="mix",
        runtime_version=version,
        version_source=source,
        start_command=(f"/app/bin/{app}", "start"),
        port=PORT,
        health_path=None,  # Phoenix generates no health route
        template="elixir",
        options={
            "app": app,
            "locked": "1" if locked else "0",
            "check_locked": "1" if locked and _at_least(version, (1, 15)) else "0",
            "assets": "1" if '"assets.deploy"' in mix else "0",
            "config": "1" if tree.is_dir("config") else "0",
            "phoenix": "1" if phoenix else "0",
        },
        migrate_command=migrate,
        evidence=tuple(evidence),
        serves_http=phoenix or bool(deps & set(WEB_SERVERS)),
    )


def _version(tree: SourceTree, mix: str) -> tuple[str, str]:
    """.tool-versions/mise pin an exact Elixir; mix.exs only states a requirement."""
    pinned = tool_version(tree, "elixir")
    if pinned:
        return pinned
    requirement = ELIXIR_REQ_RE.search(mix)
    version = clean_version(requirement.group(1)) if requirement else None
    if version:
        return ".".join(version.split(".")[:2]), "mix.exs"
    return DEFAULTS["elixir"], "default"


def _migrate(
    tree: SourceTree, app: str, deps: set[str], evidence: list[str]
) -> tuple[str, ...] | None:
    if "ecto_sql" not in deps:
        return None
    for rel in tree.files:
        if rel.startswith("lib/") and rel.endswith(".ex"):
            match = RELEASE_RE.search(tree.read_text(rel))
            if match:
                evidence.append(f"{rel} defines {match.group(1)}.migrate")
                return (f"/app/bin/{app}", "eval", f"{match.group(1)}.migrate")
    evidence.append(
        "ecto_sql without a Release.migrate module: run `mix phx.gen.release` to add one"
    )
    return None


def _at_least(version: str, minimum: tuple[int, int]) -> bool:
    parts = tuple(int(p) for p in version.split(".")[:2])
    return parts >= minimum
