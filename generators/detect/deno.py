"""Detection of Deno apps: ``tasks.start`` of deno.json, else the entry module run with
the permissions a web server needs; Fresh is recognised by its imports."""

from __future__ import annotations

import json
import re
from typing import Any

from generators.detect import register
from generators.detect.hints import (
    UndetectableError,
    exec_form,
    health_route,
    port_in_command,
    procfile,
    read_code,
    source_files,
)
from generators.detect.versions import resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

CONFIGS = ("deno.json", "deno.jsonc")
ENTRIES = ("main.ts", "server.ts", "mod.ts", "src/main.ts", "main.js")
CODE = (".ts", ".tsx", ".js", ".mjs")
DEFAULT_PORT = 8000  # Deno.serve's default
_PORT = re.compile(
    r"""\bport:\s*(\d{2,5})\b|Deno\.env\.get\(["']PORT["']\)\s*\?\?\s*["']?(\d{2,5})"""
)
# Comments in deno.jsonc; strings are matched first so that "https://..." survives.
_JSONC = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.DOTALL)


@register("deno")
def detect_deno(tree: SourceTree) -> Stack | None:
    config_file = next((name for name in CONFIGS if tree.is_file(name)), None)
    if config_file is None and not tree.is_file("deno.lock"):
        return None
    config = _config(tree, config_file) if config_file else {}
    evidence = [f"found {config_file or 'deno.lock'}"]
    version, source = resolve(tree, "deno", (tree.read_text_or_none(".dvmrc"), ".dvmrc"))
    evidence.append(f"{source} -> deno {version}")
    imports = config.get("imports") if isinstance(config.get("imports"), dict) else {}
    assert isinstance(imports, dict)
    targets = " ".join(str(v) for v in imports.values())
    framework = "fresh" if ("$fresh/" in imports or "@fresh/core" in targets) else None
    framework = framework or ("hono" if "hono" in targets else None)
    command = _start(tree, config, framework, evidence)
    port = port_in_command(command) or _port_in_code(tree, command) or DEFAULT_PORT
    start = exec_form(command, port)
    entry = next((w for w in reversed(start) if w.endswith(CODE)), "")
    lock = tree.is_file("deno.lock")
    return Stack(
        language="deno",
        framework=framework,
        package_manager=None,
        runtime_version=version,
        version_source=source,
        start_command=start,
        port=port,
        health_path=health_route(tree, source_files(tree, CODE)),
        template="deno",
        options={
            # The Deno images are tagged by full version only (2.1.4, not 2.1).
            "image_tag": version if version.count(".") >= 2 else f"{version}.0",
            "entry": entry,
            "frozen": "--frozen " if lock else "",
        },
        evidence=tuple(evidence),
    )


def _config(tree: SourceTree, name: str) -> dict[str, Any]:
    if name == "deno.json":
        data = tree.read_json(name)
    else:
        text = _JSONC.sub(lambda m: m.group(1) or "", tree.read_text(name))
        text = re.sub(r",(\s*[}\]])", r"\1", text)  # trailing commas are valid JSONC
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GeneratorError(tree.display(name), f"malformed JSONC: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise GeneratorError(tree.display(name), "must be a JSON object")
    return data


def _start(
    tree: SourceTree, config: dict[str, Any], framework: str | None, evidence: list[str]
) -> str:
    web = procfile(tree).get("web")
    if web:
        evidence.append("Procfile web: is the start command")
        return web
    tasks = config.get("tasks") if isinstance(config.get("tasks"), dict) else {}
    assert isinstance(tasks, dict)
    task = tasks.get("start")
    if isinstance(task, dict):  # the long form: {"command": "...", "description": "..."}
        task = task.get("command")
    if isinstance(task, str) and task.strip():
        evidence.append("deno.json tasks.start is the start command")
        return task
    entry = next((name for name in ENTRIES if tree.is_file(name)), None)
    if entry is None:
        raise UndetectableError(
            tree.display_root,
            "Deno app without tasks.start or an entry module (" + ", ".join(ENTRIES) + ")",
            hint="add a 'start' task to deno.json",
        )
    evidence.append(f"entry module {entry}")
    if framework == "fresh":
        return f"deno run -A {entry}"
    return f"deno run --allow-net --allow-env --allow-read {entry}"


def _port_in_code(tree: SourceTree, command: str) -> int | None:
    files = [w for w in command.split() if w.endswith(CODE)] or list(ENTRIES)
    for rel in files:
        match = _PORT.search(read_code(tree, rel) or "")
        if match:
            return int(match.group(1) or match.group(2))
    return None
