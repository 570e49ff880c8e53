"""Node.js package managers and runtime versions: which manager the lockfile belongs to,
how it installs strictly from that lockfile, and which Node (or Bun) runs the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generators.detect.versions import resolve
from generators.source import SourceTree

# .nvmrc may name an LTS line instead of a number.
LTS_CODENAMES = {
    "argon": "4",
    "boron": "6",
    "carbon": "8",
    "dubnium": "10",
    "erbium": "12",
    "fermium": "14",
    "gallium": "16",
    "hydrogen": "18",
    "iron": "20",
    "jod": "22",
    "krypton": "24",
}


@dataclass(frozen=True)
class Manager:
    """How one package manager installs strictly from its lockfile."""

    name: str
    lockfile: str
    install: str  # every dependency, for the build
    install_prod: str  # runtime dependencies only
    cache: str  # the download cache, kept between builds by a BuildKit cache mount
    corepack: bool = False  # the node image does not ship it: corepack provides it


# Lockfile -> manager; the first present wins.
MANAGERS = (
    Manager("bun", "bun.lock", "bun install --frozen-lockfile",
            "bun install --frozen-lockfile --production", "/root/.bun/install/cache"),
    Manager("bun", "bun.lockb", "bun install --frozen-lockfile",
            "bun install --frozen-lockfile --production", "/root/.bun/install/cache"),
    Manager("pnpm", "pnpm-lock.yaml", "pnpm install --frozen-lockfile",
            "pnpm install --frozen-lockfile --prod", "/root/.local/share/pnpm/store", True),
    Manager("yarn", "yarn.lock", "yarn install --frozen-lockfile",
            "yarn install --frozen-lockfile --production", "/usr/local/share/.cache/yarn"),
    Manager("npm", "package-lock.json", "npm ci", "npm ci --omit=dev", "/root/.npm"),
    Manager("npm", "npm-shrinkwrap.json", "npm ci", "npm ci --omit=dev", "/root/.npm"),
)  # fmt: skip
NPM = MANAGERS[4]

# Yarn 2+ ("berry") writes a different lockfile and has its own strict flag; it is
# told to lay out node_modules so that the runtime stage can copy them.
YARN_BERRY = Manager(
    "yarn",
    "yarn.lock",
    "yarn install --immutable",
    "yarn workspaces focus --all --production",
    "/root/.yarn/berry/cache",
    True,
)


def package_manager(
    tree: SourceTree, package: dict[str, Any], evidence: list[str]
) -> tuple[Manager, str | None]:
    """The manager (from the lockfile present, else ``packageManager``, else npm) and the
    manager version ``packageManager`` pins, if any."""
    declared, _, version = str(package.get("packageManager") or "").partition("@")
    version = version.split("+", 1)[0] or ""
    for manager in MANAGERS:
        if tree.is_file(manager.lockfile):
            evidence.append(f"{manager.lockfile} -> {manager.name}")
            if manager.name == "yarn" and _is_berry(tree):
                evidence.append("yarn.lock is a Yarn 2+ lockfile")
                return YARN_BERRY, version or None
            return manager, (version if declared == manager.name else None) or None
    for manager in MANAGERS:
        if manager.name == declared:
            evidence.append(f"packageManager -> {declared}; no lockfile: the install will resolve")
            return manager, version or None
    evidence.append("no lockfile: npm")
    return NPM, None


def _is_berry(tree: SourceTree) -> bool:
    text = tree.read_text("yarn.lock")
    return "__metadata:" in text or tree.is_file(".yarnrc.yml")


def node_version(tree: SourceTree, package: dict[str, Any]) -> tuple[str, str]:
    engines = package.get("engines") if isinstance(package.get("engines"), dict) else {}
    assert isinstance(engines, dict)
    return resolve(
        tree,
        "node",
        (_nvm(tree.read_text_or_none(".nvmrc")), ".nvmrc"),
        (_nvm(tree.read_text_or_none(".node-version")), ".node-version"),
        (_str(engines.get("node")), "package.json engines.node"),
    )


def bun_version(tree: SourceTree, package: dict[str, Any], pinned: str | None) -> tuple[str, str]:
    engines = package.get("engines") if isinstance(package.get("engines"), dict) else {}
    assert isinstance(engines, dict)
    return resolve(
        tree,
        "bun",
        (pinned, "package.json packageManager"),
        (tree.read_text_or_none(".bun-version"), ".bun-version"),
        (_str(engines.get("bun")), "package.json engines.bun"),
    )


def _nvm(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    line = text.strip().splitlines()[0].strip().lower()
    if line.startswith("lts/"):
        return LTS_CODENAMES.get(line[len("lts/") :])
    return line


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
