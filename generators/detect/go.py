"""Detection of Go apps from go.mod or go.work: the main package to build, the Go
version, and the port and health route the code declares."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from generators.detect import register
from generators.detect.versions import resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

# go.mod and go.work share one line-oriented grammar; these are the directives either allows.
DIRECTIVES = frozenset(
    {"module", "go", "toolchain", "godebug", "require", "replace", "exclude", "retract", "use"}
)
GO_VERSION_RE = re.compile(r"^1(?:\.\d+){1,2}(?:(?:rc|beta)\d+)?\Z")
TOOLCHAIN_RE = re.compile(r"^(?:go1(?:\.\d+){1,2}(?:(?:rc|beta)\d+)?(?:-\S+)?|default)\Z")

# Web frameworks by module path prefix; fiber's examples and docs listen on :3000.
FRAMEWORKS = (
    ("github.com/gin-gonic/gin", "gin", 8080),
    ("github.com/labstack/echo", "echo", 8080),
    ("github.com/gofiber/fiber", "fiber", 3000),
    ("github.com/go-chi/chi", "chi", 8080),
)
# Modules that need cgo, and so a libc in the final image.
CGO_MODULES = ("github.com/mattn/go-sqlite3",)
ADDR_RE = re.compile(r'"(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\])?:(\d{2,5})"')
HEALTH_PATHS = ("/healthz", "/health", "/livez", "/readyz")
MAIN_RE = re.compile(r"^package\s+main\b", re.MULTILINE)
FUNC_MAIN_RE = re.compile(r"^func\s+main\s*\(\s*\)", re.MULTILINE)


@dataclass(frozen=True)
class GoModFile:
    """The directives of a go.mod or go.work that detection uses."""

    module: str | None
    go: str | None
    toolchain: str | None
    requires: tuple[str, ...]
    uses: tuple[str, ...]


@register("go")
def detect_go(tree: SourceTree) -> Stack | None:
    work = parse_mod(tree, "go.work") if tree.is_file("go.work") else None
    mod = parse_mod(tree, "go.mod") if tree.is_file("go.mod") else None
    if work is None and mod is None:
        return None
    if mod is not None and mod.module is None:
        raise GeneratorError(tree.display("go.mod"), "has no module directive")
    evidence: list[str] = []
    module_dirs = _module_dirs(tree, work, evidence)
    requires = _all_requires(tree, module_dirs, mod)
    local = {m.module for m in _modules(tree, module_dirs)}
    external = [r for r in requires if r not in local]
    version, source = resolve(
        tree,
        "go",
        (work.toolchain if work else None, "go.work"),
        (work.go if work else None, "go.work"),
        (mod.toolchain if mod else None, "go.mod"),
        (mod.go if mod else None, "go.mod"),
    )
    evidence.append(f"{source} -> go {version}")
    main_dir = _main_package(tree, module_dirs)
    go_files = _go_files(tree, main_dir)
    framework, default_port = _framework(requires)
    if framework:
        evidence.append(f"requires {framework}")
    port = _port(tree, go_files, default_port, evidence)
    binary = _binary_name(main_dir, mod)
    evidence.append(f"main package in {_target(main_dir)} -> /app/{binary}")
    health = _health_path(tree, go_files)
    if health:
        evidence.append(f"route {health} in the code")
    cgo = any(req.startswith(CGO_MODULES) for req in requires)
    if cgo:
        evidence.append("cgo module required -> glibc base image")
    has_sum = any(tree.is_file(posixpath.join(d, "go.sum")) for d in module_dirs)
    if has_sum:
        evidence.append("go.sum present")
    elif external:
        evidence.append("no go.sum: the build fails until `go mod tidy` writes one")
    return Stack(
        language="go",
        framework=framework,
        package_manager="go",
        runtime_version=version,
        version_source=source,
        start_command=(f"/app/{binary}",),
        port=port,
        health_path=health,
        template="go",
        options={
            "build_target": _target(main_dir),
            "binary": binary,
            "mod_files": " ".join(_mod_files(tree, module_dirs, work is not None)),
            "cgo": "1" if cgo else "0",
        },
        evidence=tuple(evidence),
    )


def parse_mod(tree: SourceTree, rel: str) -> GoModFile:
    """Parse a go.mod/go.work; a line the go command would reject is a GeneratorError."""
    text = tree.read_text(rel)
    fields: dict[str, str] = {}
    requires: list[str] = []
    uses: list[str] = []
    block: str | None = None
    block_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
                continue
            _block_entry(block, line, requires, uses)
            continue
        words = line.split()
        verb = words[0]
        if verb not in DIRECTIVES:
            raise GeneratorError(tree.display(rel), f"line {number}: unknown directive {verb!r}")
        if len(words) == 2 and words[1] == "(":
            block, block_line = verb, number
            continue
        if len(words) < 2:
            raise GeneratorError(tree.display(rel), f"line {number}: {verb} needs an argument")
        _check_value(tree, rel, number, verb, words[1])
        if verb in ("module", "go", "toolchain"):
            fields[verb] = words[1].strip('"')
        else:
            _block_entry(verb, " ".join(words[1:]), requires, uses)
    if block is not None:
        raise GeneratorError(
            tree.display(rel), f"line {block_line}: {block} block is never closed with ')'"
        )
    return GoModFile(
        module=fields.get("module"),
        go=fields.get("go"),
        toolchain=fields.get("toolchain"),
        requires=tuple(requires),
        uses=tuple(uses),
    )


def _check_value(tree: SourceTree, rel: str, number: int, verb: str, value: str) -> None:
    if verb == "go" and not GO_VERSION_RE.match(value):
        raise GeneratorError(tree.display(rel), f"line {number}: invalid go version {value!r}")
    if verb == "toolchain" and not TOOLCHAIN_RE.match(value):
        raise GeneratorError(tree.display(rel), f"line {number}: invalid toolchain {value!r}")


def _block_entry(verb: str, entry: str, requires: list[str], uses: list[str]) -> None:
    if verb == "require":
        requires.append(entry.split()[0])
    elif verb == "use":
        uses.append(entry.split()[0].strip('"'))


def _module_dirs(tree: SourceTree, work: GoModFile | None, evidence: list[str]) -> list[str]:
    if work is None:
        evidence.append("found go.mod")
        return ["."]
    dirs = [posixpath.normpath(u) for u in work.uses]
    if not dirs:
        raise GeneratorError(tree.display("go.work"), "has no use directive")
    for d in dirs:
        if not tree.is_file(posixpath.join(d, "go.mod")):
            raise GeneratorError(tree.display("go.work"), f"uses {d!r}, which has no go.mod")
    evidence.append(f"found go.work using {', '.join(dirs)}")
    return dirs


def _modules(tree: SourceTree, dirs: list[str]) -> list[GoModFile]:
    return [parse_mod(tree, posixpath.join(d, "go.mod")) for d in dirs if d != "."]


def _all_requires(tree: SourceTree, dirs: list[str], root: GoModFile | None) -> list[str]:
    found = list(root.requires) if root else []
    for module in _modules(tree, dirs):
        found.extend(module.requires)
    return found


def _mod_files(tree: SourceTree, dirs: list[str], workspace: bool) -> list[str]:
    names = ["go.work", "go.work.sum"] if workspace else []
    names += [posixpath.normpath(posixpath.join(d, n)) for d in dirs for n in ("go.mod", "go.sum")]
    return [n for n in names if tree.is_file(n)]


def _main_package(tree: SourceTree, module_dirs: list[str]) -> str:
    """The directory of the ``package main`` to build: the module root, else ``cmd/*``."""
    candidates: list[str] = []
    for rel in tree.files:
        if not rel.endswith(".go") or rel.endswith("_test.go"):
            continue
        directory = posixpath.dirname(rel) or "."
        if directory in candidates or not _inside(directory, module_dirs):
            continue
        text = tree.read_text(rel)
        if MAIN_RE.search(text) and FUNC_MAIN_RE.search(text):
            candidates.append(directory)
    if not candidates:
        where = "go.work" if module_dirs != ["."] else "go.mod"
        raise GeneratorError(
            tree.display(where),
            "no main package found (a .go file with 'package main' and 'func main()')",
        )
    roots = [c for c in candidates if c in module_dirs]
    cmds = [c for c in candidates if "cmd/" in f"{c}/" or c.startswith("cmd")]
    return (roots or cmds or candidates)[0]


def _inside(directory: str, module_dirs: list[str]) -> bool:
    return any(d == "." or directory == d or directory.startswith(d + "/") for d in module_dirs)


def _go_files(tree: SourceTree, main_dir: str) -> list[str]:
    prefix = "" if main_dir == "." else main_dir + "/"
    return [
        rel
        for rel in tree.files
        if rel.endswith(".go") and not rel.endswith("_test.go") and rel.startswith(prefix)
    ]


def _framework(requires: list[str]) -> tuple[str | None, int]:
    for prefix, name, port in FRAMEWORKS:
        if any(req.startswith(prefix) for req in requires):
            return name, port
    return None, 8080


def _port(tree: SourceTree, files: list[str], default: int, evidence: list[str]) -> int:
    for rel in files:
        match = ADDR_RE.search(tree.read_text(rel))
        if match:
            evidence.append(f"listens on :{match.group(1)} ({rel})")
            return int(match.group(1))
    return default


def _health_path(tree: SourceTree, files: list[str]) -> str | None:
    texts = [tree.read_text(rel) for rel in files]
    for path in HEALTH_PATHS:
        # net/http patterns may carry a method: "GET /healthz".
        route = re.compile(rf'"(?:[A-Z]+ +)?{re.escape(path)}"')
        if any(route.search(text) for text in texts):
            return path
    return None


def _binary_name(main_dir: str, mod: GoModFile | None) -> str:
    if main_dir != "." and posixpath.basename(main_dir) not in ("cmd", ""):
        name = posixpath.basename(main_dir)
    elif mod is not None and mod.module:
        parts = mod.module.rstrip("/").split("/")
        # example.com/shop/v2 builds a binary named shop, as `go install` does.
        name = parts[-2] if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]) else parts[-1]
    else:
        name = "app"
    # The name ends up in a path and an exec-form CMD: keep it to a safe alphabet.
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".-")
    return safe or "app"


def _target(main_dir: str) -> str:
    return "." if main_dir == "." else f"./{main_dir}"
