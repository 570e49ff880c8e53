"""Python manifests: which package manager owns the lockfile, and the names of the
runtime dependencies (to recognise frameworks and servers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generators.detect.hints import UndetectableError
from generators.errors import GeneratorError
from generators.source import SourceTree

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")

# Lockfile -> manager, strongest first: a project that also exports a requirements.txt
# (for other tools) is still installed the way its lockfile says.
LOCKFILES = (
    ("uv.lock", "uv"),
    ("poetry.lock", "poetry"),
    ("pdm.lock", "pdm"),
    ("Pipfile.lock", "pipenv"),
)


@dataclass(frozen=True)
class Manifests:
    pyproject: dict[str, Any]
    pipfile: dict[str, Any]

    @classmethod
    def read(cls, tree: SourceTree) -> Manifests:
        pyproject = tree.read_toml("pyproject.toml") if tree.is_file("pyproject.toml") else {}
        pipfile = tree.read_toml("Pipfile") if tree.is_file("Pipfile") else {}
        return cls(pyproject, pipfile)

    def tool(self, name: str) -> dict[str, Any]:
        tool = self.pyproject.get("tool", {})
        section = tool.get(name) if isinstance(tool, dict) else None
        return section if isinstance(section, dict) else {}


def package_manager(tree: SourceTree, manifests: Manifests, evidence: list[str]) -> tuple[str, str]:
    """``(manager, install)``; ``install`` tells the pip template what to install from.

    Installs are lockfile-strict, so a manager whose lockfile is missing is an error
    rather than an install that silently resolves new versions."""
    for lockfile, manager in LOCKFILES:
        if tree.is_file(lockfile):
            evidence.append(f"{lockfile} -> {manager}")
            return manager, "lock"
    if tree.is_file("requirements.txt"):
        evidence.append("requirements.txt -> pip")
        return "pip", "requirements"
    for marker, manager, command in (
        ("Pipfile", "pipenv", "pipenv lock"),
        ("poetry", "poetry", "poetry lock"),
        ("pdm", "pdm", "pdm lock"),
        ("uv", "uv", "uv lock"),
    ):
        declared = tree.is_file(marker) if marker == "Pipfile" else bool(manifests.tool(marker))
        if declared:
            where = "Pipfile" if marker == "Pipfile" else "pyproject.toml"
            raise UndetectableError(
                tree.display(where),
                f"uses {manager} but its lockfile is missing",
                hint=f"run '{command}' and commit the lockfile",
            )
    if manifests.pyproject.get("project") or tree.is_file("setup.py"):
        evidence.append("no lockfile: pip installs the project")
        return "pip", "project"
    raise UndetectableError(
        tree.display("pyproject.toml"),
        "declares no dependencies ([project] table) and there is no requirements.txt",
    )


def dependencies(tree: SourceTree, manifests: Manifests) -> set[str]:
    """Normalised names of the runtime dependencies, with ``name[extra]`` for extras
    that pull in a server (``fastapi[standard]`` brings uvicorn)."""
    specs: list[str] = []
    if tree.is_file("requirements.txt"):
        specs += _requirements(tree, "requirements.txt", set())
    project = manifests.pyproject.get("project", {})
    if isinstance(project, dict):
        specs += [d for d in project.get("dependencies", []) if isinstance(d, str)]
    poetry = manifests.tool("poetry").get("dependencies", {})
    if isinstance(poetry, dict):
        specs += [
            name + _poetry_extras(value) for name, value in poetry.items() if name != "python"
        ]
    packages = manifests.pipfile.get("packages", {})
    if isinstance(packages, dict):
        specs += [name + _poetry_extras(value) for name, value in packages.items()]
    names: set[str] = set()
    for spec in specs:
        match = _NAME.match(spec)
        if not match:
            continue
        name = normalise(match.group(1))
        names.add(name)
        extras = match.group(2) or ""
        if name == "fastapi" and re.search(r"\b(standard|all)\b", extras):
            names.add("uvicorn")
        if name == "uvicorn" or name.startswith("uvicorn-"):
            names.add("uvicorn")
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _poetry_extras(value: object) -> str:
    if isinstance(value, dict) and isinstance(value.get("extras"), list):
        return "[" + ",".join(str(x) for x in value["extras"]) + "]"
    return ""


def _requirements(tree: SourceTree, rel: str, seen: set[str]) -> list[str]:
    """Requirement lines of ``rel``, following ``-r other.txt`` includes once each."""
    if rel in seen:
        return []
    seen.add(rel)
    if not tree.is_file(rel):
        raise GeneratorError(tree.display(rel), "is included with -r but does not exist")
    specs: list[str] = []
    base = rel.rpartition("/")[0]
    for line in tree.read_text(rel).splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            included = line.split(None, 1)[1].strip()
            specs += _requirements(tree, f"{base}/{included}" if base else included, seen)
        elif line and not line.startswith(("#", "-")):
            specs.append(line)
    return specs
