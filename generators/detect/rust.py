"""Detection of Rust apps from Cargo.toml: the binary to build (also in a workspace), the
toolchain version, the web framework and the address it binds."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from generators.detect import register
from generators.detect.versions import resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

# Web frameworks and the port their own docs and examples bind.
FRAMEWORKS = (
    ("actix-web", 8080),
    ("axum", 3000),
    ("rocket", 8000),
    ("warp", 3030),
    ("poem", 3000),
    ("tide", 8080),
)
ADDR_RES = (
    re.compile(r'"(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\])?:(\d{2,5})"'),
    re.compile(r'\(\s*"(?:0\.0\.0\.0|127\.0\.0\.1|localhost|::)"\s*,\s*(\d{2,5})\s*\)'),
    re.compile(r"\[\s*0\s*,\s*0\s*,\s*0\s*,\s*0\s*\]\s*,\s*(\d{2,5})\s*\)"),
)
HEALTH_PATHS = ("/healthz", "/health", "/livez", "/readyz")


@register("rust")
def detect_rust(tree: SourceTree) -> Stack | None:
    if not tree.is_file("Cargo.toml"):
        return None
    manifest = tree.read_toml("Cargo.toml")
    found = _binary_crate(tree, manifest)
    if found is None:
        # A library-only crate (a Python extension built with maturin, say) is not an
        # app: let the next language claim the tree.
        return None
    crate_dir, package, binary = found
    evidence = ["found Cargo.toml"]
    if crate_dir != ".":
        evidence.append(f"workspace member {crate_dir} builds binary {binary}")
    else:
        evidence.append(f"builds binary {binary}")
    version, source = _version(tree)
    evidence.append(f"{source} -> rust {version}")
    locked = tree.is_file("Cargo.lock")
    evidence.append("Cargo.lock -> cargo build --locked" if locked else "no Cargo.lock")
    deps = _dependencies(package)
    framework, default_port = _framework(deps)
    if framework:
        evidence.append(f"depends on {framework}")
    sources = _sources(tree, crate_dir)
    port = _port(tree, sources, framework, default_port, evidence)
    health = _health_path(tree, sources)
    openssl = _needs_openssl(tree)
    if openssl:
        evidence.append("openssl-sys in Cargo.lock -> base image with libssl")
    return Stack(
        language="rust",
        framework=framework,
        package_manager="cargo",
        runtime_version=version,
        version_source=source,
        start_command=(f"/app/{binary}",),
        port=port,
        health_path=health,
        template="rust",
        options={
            "binary": binary,
            "package": str(package.get("package", {}).get("name", binary)),
            "locked": "1" if locked else "0",
            "openssl": "1" if openssl else "0",
            "rocket": "1" if framework == "rocket" else "0",
        },
        evidence=tuple(evidence),
    )


def _version(tree: SourceTree) -> tuple[str, str]:
    channel: str | None = None
    source = "rust-toolchain.toml"
    if tree.is_file("rust-toolchain.toml"):
        channel = _channel(tree, "rust-toolchain.toml")
    elif tree.is_file("rust-toolchain"):
        source = "rust-toolchain"
        text = tree.read_text("rust-toolchain").strip()
        # The legacy file is either a bare channel or the same TOML as the new one.
        channel = _channel(tree, source) if text.startswith("[") else text
    # "stable"/"nightly" name no version: fall through to version managers and the default.
    if channel and not re.match(r"^\d", channel):
        channel = None
    return resolve(tree, "rust", (channel, source))


def _channel(tree: SourceTree, rel: str) -> str | None:
    toolchain = tree.read_toml(rel).get("toolchain", {})
    channel = toolchain.get("channel") if isinstance(toolchain, dict) else None
    return str(channel) if channel is not None else None


def _binary_crate(
    tree: SourceTree, manifest: dict[str, Any]
) -> tuple[str, dict[str, Any], str] | None:
    """(crate dir, its manifest, binary name) of the app, or None for libraries only."""
    if "package" in manifest:
        binary = _binary_name(tree, ".", manifest)
        if binary:
            return ".", manifest, binary
    workspace = manifest.get("workspace", {})
    members = workspace.get("members", []) if isinstance(workspace, dict) else []
    found: list[tuple[str, dict[str, Any], str]] = []
    for member in _expand_members(tree, members):
        rel = posixpath.join(member, "Cargo.toml")
        if not tree.is_file(rel):
            raise GeneratorError(
                tree.display("Cargo.toml"), f"workspace member {member!r} has no Cargo.toml"
            )
        sub = tree.read_toml(rel)
        binary = _binary_name(tree, member, sub)
        if binary:
            found.append((member, sub, binary))
    # Several binaries (an API and a CLI, say): the one serving HTTP is the app.
    web = [f for f in found if _framework(_dependencies(f[1]))[0]]
    chosen = web or found
    return chosen[0] if chosen else None


def _expand_members(tree: SourceTree, members: Any) -> list[str]:
    if not isinstance(members, list):
        raise GeneratorError(tree.display("Cargo.toml"), "workspace.members must be a list")
    dirs: list[str] = []
    for pattern in members:
        if not isinstance(pattern, str):
            raise GeneratorError(tree.display("Cargo.toml"), "workspace.members must be strings")
        if pattern.endswith("/*"):
            base = pattern[:-2]
            subdirs = {
                posixpath.dirname(f)
                for f in tree.files
                if f.startswith(base + "/") and f.endswith("/Cargo.toml") and f.count("/") == 2
            }
            dirs.extend(sorted(subdirs))
        else:
            dirs.append(posixpath.normpath(pattern))
    return dirs


def _binary_name(tree: SourceTree, crate_dir: str, manifest: dict[str, Any]) -> str | None:
    bins = manifest.get("bin", [])
    if isinstance(bins, list):
        for entry in bins:
            if isinstance(entry, dict) and entry.get("name"):
                return _safe(str(entry["name"]))
    package = manifest.get("package", {})
    name = package.get("name") if isinstance(package, dict) else None
    if name and tree.is_file(posixpath.join(crate_dir, "src/main.rs")):
        return _safe(str(name))
    prefix = posixpath.normpath(posixpath.join(crate_dir, "src/bin")) + "/"
    extra = [f for f in tree.files if f.startswith(prefix) and f.endswith(".rs")]
    if extra:
        return _safe(posixpath.basename(extra[0])[: -len(".rs")])
    return None


def _safe(name: str) -> str:
    # Used in a path and an exec-form CMD: keep it to cargo's own alphabet.
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _dependencies(manifest: dict[str, Any]) -> set[str]:
    deps = manifest.get("dependencies", {})
    return set(deps) if isinstance(deps, dict) else set()


def _framework(deps: set[str]) -> tuple[str | None, int]:
    for name, port in FRAMEWORKS:
        if name in deps:
            return name, port
    return None, 8080


def _sources(tree: SourceTree, crate_dir: str) -> list[str]:
    prefix = "" if crate_dir == "." else crate_dir + "/"
    return [f for f in tree.files if f.startswith(prefix + "src/") and f.endswith(".rs")]


def _port(
    tree: SourceTree,
    sources: list[str],
    framework: str | None,
    default: int,
    evidence: list[str],
) -> int:
    if framework == "rocket" and tree.is_file("Rocket.toml"):
        config = tree.read_toml("Rocket.toml")
        for profile in ("release", "global", "default"):
            section = config.get(profile, {})
            if isinstance(section, dict) and isinstance(section.get("port"), int):
                evidence.append(f"Rocket.toml [{profile}] port {section['port']}")
                return int(section["port"])
    for rel in sources:
        text = tree.read_text(rel)
        for pattern in ADDR_RES:
            match = pattern.search(text)
            if match:
                evidence.append(f"binds port {match.group(1)} ({rel})")
                return int(match.group(1))
    return default


def _health_path(tree: SourceTree, sources: list[str]) -> str | None:
    texts = [tree.read_text(rel) for rel in sources]
    for path in HEALTH_PATHS:
        if any(f'"{path}"' in text for text in texts):
            return path
    return None


def _needs_openssl(tree: SourceTree) -> bool:
    lock = tree.read_text_or_none("Cargo.lock")
    return lock is not None and 'name = "openssl-sys"' in lock
