"""Detection of Python apps: the package manager from the lockfile, the version from the
files users write, and the start command from the module that creates the app object
(Django's WSGI application, ``Flask(__name__)``, ``FastAPI()``), unless a Procfile says."""

from __future__ import annotations

from dataclasses import dataclass, field

from generators.detect import python_app as apps
from generators.detect import register
from generators.detect.hints import UndetectableError, exec_form, port_in_command, procfile
from generators.detect.python_deps import Manifests, dependencies, package_manager
from generators.detect.versions import resolve
from generators.model import Stack
from generators.source import SourceTree

MARKERS = ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "uv.lock", "poetry.lock")


@dataclass
class Found:
    """The app as far as detection got; the Procfile may still override it."""

    framework: str | None
    start: tuple[str, ...]
    port: int
    health: str | None = None
    migrate: tuple[str, ...] | None = None
    evidence: list[str] = field(default_factory=list)
    pythonpath: str = ""


@register("python")
def detect_python(tree: SourceTree) -> Stack | None:
    present = [name for name in MARKERS if tree.is_file(name)]
    if not present:
        return None
    evidence = [f"found {present[0]}"]
    manifests = Manifests.read(tree)
    manager, install = package_manager(tree, manifests, evidence)
    deps = dependencies(tree, manifests)
    version, source = _version(tree, manifests)
    evidence.append(
        f"{source} -> python {version}" if source != "default" else f"python {version} (default)"
    )
    entries = procfile(tree)
    try:
        found = _find_app(tree, deps)
    except UndetectableError:
        if not entries.get("web"):
            raise
        found = Found(
            None, (), 8000, evidence=["app object not found; the Procfile says how to start"]
        )
    evidence.extend(found.evidence)
    start, port, migrate = _apply_procfile(entries, found, evidence)
    return Stack(
        language="python",
        framework=found.framework,
        package_manager=manager,
        runtime_version=version,
        version_source=source,
        start_command=start,
        port=port,
        health_path=found.health,
        template="python",
        options={"install": install, "pythonpath": found.pythonpath},
        migrate_command=migrate,
        evidence=tuple(evidence),
    )


def _version(tree: SourceTree, manifests: Manifests) -> tuple[str, str]:
    python_version = tree.read_text_or_none(".python-version")
    first_line = (
        python_version.strip().splitlines()[0]
        if python_version and python_version.strip()
        else None
    )
    requires = manifests.pipfile.get("requires", {})
    if not isinstance(requires, dict):
        requires = {}
    project = manifests.pyproject.get("project", {})
    poetry_deps = manifests.pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return resolve(
        tree,
        "python",
        (first_line, ".python-version"),
        (tree.read_text_or_none("runtime.txt"), "runtime.txt"),
        (_str(requires.get("python_full_version")), "Pipfile"),
        (_str(requires.get("python_version")), "Pipfile"),
        (
            _str(project.get("requires-python")) if isinstance(project, dict) else None,
            "pyproject.toml",
        ),
        (
            _str(poetry_deps.get("python")) if isinstance(poetry_deps, dict) else None,
            "pyproject.toml",
        ),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _find_app(tree: SourceTree, deps: set[str]) -> Found:
    if "django" in deps or tree.is_file("manage.py"):
        return _django(tree, deps)
    if "fastapi" in deps:
        return _asgi(tree, deps, "fastapi", "FastAPI")
    if "flask" in deps:
        return _flask(tree, deps)
    return _plain(tree)


def _django(tree: SourceTree, deps: set[str]) -> Found:
    wsgi, asgi, evidence = apps.django_modules(tree)
    port = 8000
    migrate = ("python", "manage.py", "migrate", "--noinput") if tree.is_file("manage.py") else None
    if "gunicorn" in deps and wsgi:
        start: tuple[str, ...] = ("gunicorn", apps.callable_ref(wsgi), "--bind", f"0.0.0.0:{port}")
        evidence.append("gunicorn serves the WSGI application")
    elif "uvicorn" in deps and asgi:
        start = ("uvicorn", apps.callable_ref(asgi), "--host", "0.0.0.0", "--port", str(port))
        evidence.append("uvicorn serves the ASGI application")
    elif tree.is_file("manage.py"):
        start = ("python", "manage.py", "runserver", f"0.0.0.0:{port}", "--noreload")
        evidence.append(
            "no gunicorn/uvicorn in dependencies: Django's development server (add gunicorn)"
        )
    else:
        raise UndetectableError(tree.display_root, "Django app without manage.py or a WSGI server")
    return Found("django", start, port, apps.django_health(tree), migrate, evidence)


def _asgi(tree: SourceTree, deps: set[str], framework: str, cls: str) -> Found:
    ref = apps.find_app_object(tree, cls)
    if ref is None:
        raise UndetectableError(
            tree.display_root,
            f"{framework} is a dependency but no module creates the app ({cls}())",
            hint="set 'command' in .github/autostack.yml",
        )
    port = 8000
    target = ref.target
    if "uvicorn" in deps:
        start: tuple[str, ...] = ("uvicorn", target, "--host", "0.0.0.0", "--port", str(port))
        start += ("--factory",) if ref.factory else ()
    elif "hypercorn" in deps:
        start = ("hypercorn", target + ("()" if ref.factory else ""), "--bind", f"0.0.0.0:{port}")
    else:
        raise UndetectableError(
            tree.display_root,
            f"{framework} app {target} found but no ASGI server "
            "(uvicorn, hypercorn) in the dependencies",
            hint="add uvicorn (or fastapi[standard]) to the dependencies",
        )
    evidence = [f"{ref.path} creates the {cls} app '{ref.name}'", f"{start[0]} serves {target}"]
    return Found(
        framework, start, port, apps.health(tree), apps.alembic(tree), evidence, ref.pythonpath
    )


def _flask(tree: SourceTree, deps: set[str]) -> Found:
    ref = apps.find_app_object(tree, "Flask")
    if ref is None:
        raise UndetectableError(
            tree.display_root,
            "flask is a dependency but no module creates the app (Flask(__name__))",
            hint="set 'command' in .github/autostack.yml",
        )
    port = 8000
    target = ref.target + ("()" if ref.factory else "")
    if "gunicorn" in deps:
        start: tuple[str, ...] = ("gunicorn", target, "--bind", f"0.0.0.0:{port}")
    elif "waitress" in deps:
        flag = ("--call",) if ref.factory else ()
        start = ("waitress-serve", f"--listen=0.0.0.0:{port}", *flag, ref.target)
    else:
        start = ("flask", "--app", target, "run", "--host", "0.0.0.0", "--port", str(port))
    evidence = [f"{ref.path} creates the Flask app '{ref.name}'", f"{start[0]} serves {target}"]
    migrate = apps.alembic(tree)
    if migrate is None and "flask-migrate" in deps:
        migrate = ("flask", "--app", target, "db", "upgrade")
    return Found("flask", start, port, apps.health(tree), migrate, evidence, ref.pythonpath)


def _plain(tree: SourceTree) -> Found:
    entry = apps.main_module(tree)
    if entry is None:
        raise UndetectableError(
            tree.display_root,
            "Python app without a known framework or entry point "
            "(looked for Django, FastAPI, Flask, main.py, app.py, server.py, "
            "<package>/__main__.py)",
            hint="add a Procfile 'web:' line or set 'command' in .github/autostack.yml",
        )
    start, path = entry
    port = apps.port_in_code(tree, path) or 8000
    return Found(None, start, port, apps.health(tree), apps.alembic(tree), [f"entry point {path}"])


def _apply_procfile(
    entries: dict[str, str], found: Found, evidence: list[str]
) -> tuple[tuple[str, ...], int, tuple[str, ...] | None]:
    start, port, migrate = found.start, found.port, found.migrate
    web = entries.get("web")
    if web:
        port = port_in_command(web) or port
        start = exec_form(web, port)
        evidence.append("Procfile web: wins over the detected start command")
    release = entries.get("release")
    if release:
        migrate = exec_form(release, port)
        evidence.append("Procfile release: runs as the migration job")
    return start, port, migrate
