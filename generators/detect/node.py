"""Detection of Node.js (and Bun) apps: Next.js and Nuxt first, then servers such as
Express, then single-page app builds (Vite, Create React App, Angular, Astro) that a
static file server serves, then plain ``scripts.start`` apps."""

from __future__ import annotations

import re
from dataclasses import replace
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
from generators.detect.node_pm import Manager, bun_version, node_version, package_manager
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

CODE = (".js", ".mjs", ".cjs", ".ts", ".mts")
SERVERS = {
    "express": "express",
    "fastify": "fastify",
    "koa": "koa",
    "@hapi/hapi": "hapi",
    "@nestjs/core": "nestjs",
    "hono": "hono",
}
SPA_PORT = 8080  # nginx-unprivileged listens here; no root needed for a port above 1024
_LISTEN = re.compile(r"""(?:\.listen\(\s*|PORT\s*(?:\|\||\?\?)\s*["']?|\bport:\s*)(\d{2,5})\b""")
_VITE_OUT = re.compile(r"""outDir:\s*["']([\w./-]+)["']""")


@register("node")
def detect_node(tree: SourceTree) -> Stack | None:
    if not tree.is_file("package.json"):
        return None
    package = tree.read_json("package.json")
    if not isinstance(package, dict):
        raise GeneratorError(tree.display("package.json"), "must be a JSON object")
    evidence = ["found package.json"]
    manager, pinned = package_manager(tree, package, evidence)
    if manager.name == "bun":
        version, source = bun_version(tree, package, pinned)
    else:
        version, source = node_version(tree, package)
    runtime = "bun" if manager.name == "bun" else "node"
    evidence.append(f"{source} -> {runtime} {version}")
    scripts = _dict(package, "scripts", tree)
    deps = set(_dict(package, "dependencies", tree)) | set(_dict(package, "devDependencies", tree))
    stack = Stack(
        language="node",
        framework=None,
        package_manager=manager.name,
        runtime_version=version,
        version_source=source,
        start_command=(),
        port=3000,
        health_path=None,
        template="node",
        options=_options(manager, runtime, version, scripts, tree),
        evidence=tuple(evidence),
    )
    return _app(tree, package, scripts, deps, stack)


def _app(
    tree: SourceTree, package: dict[str, Any], scripts: dict[str, Any], deps: set[str], stack: Stack
) -> Stack:
    runtime = set(_dict(package, "dependencies", tree))
    web = procfile(tree).get("web")
    start_script = scripts.get("start") if isinstance(scripts.get("start"), str) else None
    server = next((name for dep, name in SERVERS.items() if dep in deps), None)
    if "next" in deps:
        return _server(
            tree, stack, "nextjs", web or start_script or "next start", scripts, deps, runtime
        )
    if "nuxt" in deps:
        stack = _with(stack, options={**stack.options, "output": ".output"})
        command = web or start_script or "node .output/server/index.mjs"
        return _server(tree, stack, "nuxt", command, scripts, deps, runtime)
    if "astro" in deps and "@astrojs/node" in deps:
        command = web or start_script or "node ./dist/server/entry.mjs"
        return _server(tree, _with(stack, port=4321), "astro", command, scripts, deps, runtime)
    command = web or start_script or _main_entry(tree, package)
    if server and command:
        return _server(tree, stack, server, command, scripts, deps, runtime)
    spa = _spa(tree, deps)
    if spa and not web:
        return _static_build(tree, stack, spa, scripts)
    if command:
        return _server(tree, stack, None, command, scripts, deps, runtime)
    raise UndetectableError(
        tree.display("package.json"),
        "no start command: looked for a Procfile 'web:', scripts.start, 'main', "
        "server.js/index.js/app.js and a single-page app build (Vite, CRA, Angular, Astro)",
        hint="add scripts.start or set 'command' in .github/autostack.yml",
    )


def _server(
    tree: SourceTree,
    stack: Stack,
    framework: str | None,
    command: str,
    scripts: dict[str, Any],
    deps: set[str],
    runtime: set[str],
) -> Stack:
    evidence = list(stack.evidence)
    evidence.append(f"{framework} in dependencies" if framework else "no framework found")
    evidence.append(f"start: {command}")
    port = port_in_command(command) or _port_in_entry(tree, command) or stack.port
    start = exec_form(command, port)
    build = scripts.get("build")
    options = dict(stack.options)
    if isinstance(build, str) and build.strip():
        options["build"] = f"{_run(stack)} build"
        evidence.append("scripts.build runs in the build stage")
    return _with(
        stack,
        framework=framework,
        start_command=start,
        port=port,
        health_path=_health(tree),
        migrate_command=_migrate(tree, scripts, deps, runtime, evidence),
        options=options,
        evidence=tuple(evidence),
    )


def _static_build(
    tree: SourceTree, stack: Stack, spa: tuple[str, str], scripts: dict[str, Any]
) -> Stack:
    framework, output = spa
    if not isinstance(scripts.get("build"), str):
        raise UndetectableError(
            tree.display("package.json"),
            f"{framework} app without scripts.build: cannot build the static files",
        )
    options = {**stack.options, "build": f"{_run(stack)} build", "output": output}
    evidence = (*stack.evidence, f"{framework} builds a single-page app into {output}/",
                "served by nginx (unprivileged) on 8080")  # fmt: skip
    return _with(
        stack,
        framework=framework,
        start_command=("nginx", "-g", "daemon off;"),
        port=SPA_PORT,
        health_path="/",
        template="node-spa",
        options=options,
        evidence=evidence,
    )


def _spa(tree: SourceTree, deps: set[str]) -> tuple[str, str] | None:
    """``(framework, output dir)`` of a build that produces only static files."""
    if "@angular/core" in deps and tree.is_file("angular.json"):
        return "angular", _angular_output(tree)
    if "astro" in deps:
        return "astro", "dist"
    if "react-scripts" in deps:
        return "create-react-app", "build"
    if "vite" in deps:
        for name in ("vite.config.ts", "vite.config.js", "vite.config.mjs", "vite.config.mts"):
            match = _VITE_OUT.search(read_code(tree, name) or "")
            if match:
                return "vite", match.group(1).strip("./") or "dist"
        return "vite", "dist"
    if "@vue/cli-service" in deps:
        return "vue-cli", "dist"
    return None


def _angular_output(tree: SourceTree) -> str:
    config = tree.read_json("angular.json")
    projects = config.get("projects") if isinstance(config, dict) else None
    if not isinstance(projects, dict) or not projects:
        raise GeneratorError(tree.display("angular.json"), "has no projects")
    name = config.get("defaultProject") or next(iter(projects))
    build = projects.get(name, {}).get("architect", {}).get("build", {})
    options = build.get("options", {}) if isinstance(build, dict) else {}
    output = options.get("outputPath", f"dist/{name}")
    # The application builder (Angular 17+) writes the browser files one level down.
    if isinstance(output, dict):
        return f"{output.get('base', f'dist/{name}')}/{output.get('browser', 'browser')}"
    if str(build.get("builder", "")).endswith(":application"):
        return f"{output}/browser"
    return str(output)


def _main_entry(tree: SourceTree, package: dict[str, Any]) -> str | None:
    main = package.get("main")
    candidates = [main] if isinstance(main, str) else []
    candidates += ["server.js", "index.js", "app.js", "server.mjs", "index.mjs"]
    entry = next((c for c in candidates if tree.is_file(c)), None)
    return f"node {entry}" if entry else None


def _port_in_entry(tree: SourceTree, command: str) -> int | None:
    scripts = [w for w in command.split() if w.endswith(CODE)]
    for rel in [*scripts, "server.js", "index.js", "app.js", "src/index.ts", "src/main.ts"]:
        match = _LISTEN.search(read_code(tree, rel.removeprefix("./")) or "")
        if match:
            return int(match.group(1))
    return None


def _health(tree: SourceTree) -> str | None:
    for base in ("", "src/"):
        for path in ("app/api/health/route", "pages/api/health", "app/api/healthz/route"):
            if any(tree.is_file(f"{base}{path}{ext}") for ext in (".ts", ".js")):
                return "/" + path.removeprefix("app/").removeprefix("pages/").removesuffix("/route")
    return health_route(tree, source_files(tree, CODE))


def _migrate(
    tree: SourceTree,
    scripts: dict[str, Any],
    deps: set[str],
    runtime_deps: set[str],
    evidence: list[str],
) -> tuple[str, ...] | None:
    for name in ("migrate", "db:migrate", "migrate:deploy"):
        if isinstance(scripts.get(name), str):
            evidence.append(f"scripts.{name} runs as the migration job")
            return ("npm", "run", name)
    if "prisma" in deps and tree.is_file("prisma/schema.prisma"):
        evidence.append("prisma/schema.prisma -> prisma migrate deploy")
        if "prisma" not in runtime_deps:
            # The migration job runs the app's image, which holds runtime dependencies only.
            evidence.append("move prisma to dependencies so the migration job can run it")
        return ("prisma", "migrate", "deploy")
    return None


def _options(
    manager: Manager, runtime: str, version: str, scripts: dict[str, Any], tree: SourceTree
) -> dict[str, str]:
    image = f"oven/bun:{version}-slim" if runtime == "bun" else f"node:{version}-bookworm-slim"
    setup = ""
    if manager.corepack:
        major = int(version.split(".")[0]) if runtime == "node" else 0
        # Node 25 and later no longer bundle corepack.
        setup = "npm install -g corepack@0.36.0 && " if major >= 25 else ""
        setup += "corepack enable && "
    manifests = ["package.json"]
    if tree.is_file(manager.lockfile):
        manifests.append(manager.lockfile)
    if manager.install.startswith("yarn install --immutable") and tree.is_file(".yarnrc.yml"):
        manifests.append(".yarnrc.yml")
    return {
        "image": image,
        "runtime": runtime,
        "manifests": " ".join(manifests),
        "install": setup + manager.install,
        "install_prod": setup + manager.install_prod,
        "cache": manager.cache,
        "build": "",
        "output": "",
        # Yarn 2+ defaults to Plug'n'Play; the runtime stage copies a node_modules folder.
        "build_env": "YARN_NODE_LINKER=node-modules" if "--immutable" in manager.install else "",
    }


def _run(stack: Stack) -> str:
    return "bun run" if stack.package_manager == "bun" else f"{stack.package_manager} run"


def _dict(package: dict[str, Any], key: str, tree: SourceTree) -> dict[str, Any]:
    value = package.get(key, {})
    if not isinstance(value, dict):
        raise GeneratorError(tree.display("package.json"), f"'{key}' must be an object")
    return value


def _with(stack: Stack, **changes: Any) -> Stack:
    return replace(stack, **changes)
