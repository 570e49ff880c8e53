"""Finding a Python app in its code: the module that creates the app object, Django's
WSGI/ASGI application, an entry script, health routes and migrations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from generators.detect.hints import health_route, read_code, source_files
from generators.source import SourceTree

_SETTINGS_MODULE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")
_APPLICATION = re.compile(r"""^(WSGI|ASGI)_APPLICATION\s*=\s*["']([\w.]+)["']""", re.MULTILINE)
_DJANGO_HEALTH = re.compile(r"""path\(\s*["'](healthz?|livez|readyz|ping)(/?)["']""")
_PORT_IN_CODE = re.compile(
    r"""(?:\bport\s*=\s*|["']PORT["']\s*,\s*["']?|\.bind\(\s*\(\s*["'][\w.]*["']\s*,\s*)(\d{2,5})\b"""
)


@dataclass(frozen=True)
class AppRef:
    """Where the app object is created: ``module:name`` for the server to import."""

    path: str
    module: str
    name: str
    factory: bool
    pythonpath: str  # "" or the directory the server must import from ("/app/src")

    @property
    def target(self) -> str:
        return f"{self.module}:{self.name}"


def module_of(rel: str) -> tuple[str, str]:
    """``(module, pythonpath)`` for a file: ``src/shop/app.py`` -> ``shop.app``, ``/app/src``."""
    pythonpath = ""
    if rel.startswith("src/"):
        rel, pythonpath = rel[len("src/") :], "/app/src"
    module = rel[: -len(".py")].replace("/", ".")
    return module.removesuffix(".__init__"), pythonpath


def find_app_object(tree: SourceTree, cls: str) -> AppRef | None:
    """The shallowest module that assigns ``<name> = <cls>(...)``, else one whose factory
    function (``def create_app()``) builds it."""
    assign = re.compile(rf"^(\w+)\s*(?::\s*[\w.]+\s*)?=\s*(?:\w+\.)?{cls}\(", re.MULTILINE)
    factory = re.compile(r"^def ((?:create|make|build)_app|app_factory)\s*\(", re.MULTILINE)
    candidates: list[tuple[str, str]] = []
    for rel in source_files(tree, (".py",)):
        text = read_code(tree, rel)
        if text and f"{cls}(" in text:
            candidates.append((rel, text))
    for rel, text in candidates:
        match = assign.search(text)
        if match:
            return AppRef(rel, *_split(module_of(rel), match.group(1), False))
    for rel, text in candidates:
        match = factory.search(text)
        if match:
            return AppRef(rel, *_split(module_of(rel), match.group(1), True))
    return None


def _split(found: tuple[str, str], name: str, factory: bool) -> tuple[str, str, bool, str]:
    module, pythonpath = found
    return module, name, factory, pythonpath


def callable_ref(dotted: str) -> str:
    """``proj.wsgi.application`` -> ``proj.wsgi:application`` (what servers import)."""
    module, _, name = dotted.rpartition(".")
    return f"{module}:{name}"


def django_modules(tree: SourceTree) -> tuple[str | None, str | None, list[str]]:
    """Django's WSGI and ASGI application paths, from the settings manage.py names, else
    from the ``wsgi.py``/``asgi.py`` that ``startproject`` writes."""
    evidence = ["found manage.py"] if tree.is_file("manage.py") else ["django in dependencies"]
    found: dict[str, str] = {}
    manage = tree.read_text_or_none("manage.py") or ""
    settings = _SETTINGS_MODULE.search(manage)
    if settings:
        base = settings.group(1).replace(".", "/")
        for rel in (f"{base}.py", f"{base}/__init__.py", f"{base}/base.py"):
            text = tree.read_text_or_none(rel)
            if text:
                for kind, dotted in _APPLICATION.findall(text):
                    found.setdefault(kind, dotted)
                if found:
                    evidence.append(f"{rel} sets " + ", ".join(f"{k}_APPLICATION" for k in found))
                    break
    for kind, name in (("WSGI", "wsgi.py"), ("ASGI", "asgi.py")):
        if kind in found:
            continue
        for rel in source_files(tree, (f"/{name}",)):
            if f"get_{kind.lower()}_application" in (read_code(tree, rel) or ""):
                found[kind] = module_of(rel)[0] + ".application"
                evidence.append(f"found {rel}")
                break
    return found.get("WSGI"), found.get("ASGI"), evidence


def django_health(tree: SourceTree) -> str | None:
    for rel in source_files(tree, ("urls.py",)):
        match = _DJANGO_HEALTH.search(read_code(tree, rel) or "")
        if match:
            return f"/{match.group(1)}{match.group(2)}"
    return None


def health(tree: SourceTree) -> str | None:
    return health_route(tree, source_files(tree, (".py",)))


def alembic(tree: SourceTree) -> tuple[str, ...] | None:
    return ("alembic", "upgrade", "head") if tree.is_file("alembic.ini") else None


def main_module(tree: SourceTree) -> tuple[tuple[str, ...], str] | None:
    """The entry script of a framework-less app: ``(command, path)``."""
    for name in ("main.py", "app.py", "server.py", "run.py"):
        if tree.is_file(name):
            return ("python", name), name
    for rel in source_files(tree, ("/__main__.py",), max_depth=3):
        module, pythonpath = module_of(rel)
        if not pythonpath and rel.count("/") == 1:
            return ("python", "-m", module.removesuffix(".__main__")), rel
    return None


def port_in_code(tree: SourceTree, rel: str) -> int | None:
    match = _PORT_IN_CODE.search(read_code(tree, rel) or "")
    return int(match.group(1)) if match else None
