"""Detection of Ruby apps, Rails first, then Rack and Sinatra: the Ruby version, the gems
Bundler locked, and the server command (a Procfile ``web:`` line wins)."""

from __future__ import annotations

import re
import shlex

from generators.detect import register
from generators.detect.versions import resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

LOCK_SECTIONS = ("GEM", "PATH", "GIT", "PLATFORMS", "DEPENDENCIES", "BUNDLED WITH")
SPEC_RE = re.compile(r"^    ([A-Za-z0-9_.-]+) \(", re.MULTILINE)
GEMFILE_GEM_RE = re.compile(r"^\s*gem\s+[\"']([A-Za-z0-9_.-]+)[\"']", re.MULTILINE)
GEMFILE_RUBY_RE = re.compile(r"^\s*ruby\s+[\"']([^\"']+)[\"']", re.MULTILINE)
LOCK_RUBY_RE = re.compile(r"^RUBY VERSION\s*\n\s+ruby (\S+)", re.MULTILINE)
RAILS_HEALTH_RE = re.compile(
    r"get\s+[\"'](/?[\w/-]+)[\"']\s*(?:=>|,\s*to:)\s*[\"']rails/health#show[\"']"
)
ROUTE_RE = re.compile(r"^\s*get\s+[\"'](/healthz?|/up|/livez)[\"']", re.MULTILINE)
SHELL_SYNTAX = re.compile(r"[$&|;<>`*?(){}]")
PORT_FLAG_RE = re.compile(r"(?:-p|--port)[ =](\d{2,5})\b|tcp://[\w.]*:(\d{2,5})|:-(\d{2,5})\}")
# Runtime libraries of gems with native extensions; the build stage has the -dev headers.
RUNTIME_PACKAGES = {"pg": "libpq5", "mysql2": "libmariadb3"}


@register("ruby")
def detect_ruby(tree: SourceTree) -> Stack | None:
    if not tree.is_file("Gemfile"):
        return None
    evidence = ["found Gemfile"]
    gems = _gems(tree, evidence)
    version, source = resolve(
        tree,
        "ruby",
        (_first_line(tree, ".ruby-version"), ".ruby-version"),
        (_match(GEMFILE_RUBY_RE, tree.read_text("Gemfile")), "Gemfile"),
        (_match(LOCK_RUBY_RE, tree.read_text_or_none("Gemfile.lock") or ""), "Gemfile.lock"),
    )
    evidence.append(f"{source} -> ruby {version}")
    if ("rails" in gems or "railties" in gems) and tree.is_file("config/application.rb"):
        framework, command, port, health, migrate = _rails(tree, gems, evidence)
    elif tree.is_file("config.ru") or "sinatra" in gems:
        framework, command, port, health, migrate = _rack(tree, gems, evidence)
    else:
        return None  # a gem or a script, not a server
    procfile = procfile_web(tree)
    if procfile is not None:
        command, port = procfile_command(procfile, port)
        evidence.append("Procfile web: wins")
    return Stack(
        language="ruby",
        framework=framework,
        package_manager="bundler",
        runtime_version=version,
        version_source=source,
        start_command=command,
        port=port,
        health_path=health,
        template="ruby",
        options={
            "manifests": " ".join(
                f for f in ("Gemfile", "Gemfile.lock", ".ruby-version") if tree.is_file(f)
            ),
            "locked": "1" if tree.is_file("Gemfile.lock") else "0",
            "rails": "1" if framework == "rails" else "0",
            "assets": "1" if framework == "rails" and _has_assets(gems) else "0",
            "apt": " ".join(sorted(pkg for gem, pkg in RUNTIME_PACKAGES.items() if gem in gems)),
        },
        migrate_command=migrate,
        evidence=tuple(evidence),
    )


def procfile_web(tree: SourceTree) -> str | None:
    """The ``web:`` command of a Heroku-style Procfile, if there is one."""
    text = tree.read_text_or_none("Procfile")
    if text is None:
        return None
    for line in text.splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == "web" and command.strip():
            return command.strip()
    return None


def procfile_command(command: str, default_port: int) -> tuple[tuple[str, ...], int]:
    """Exec-form argv for a Procfile command and the port it names (else the default).

    Commands with shell syntax (``$PORT``, ``&&``) run under ``sh -c``; the image sets
    ``PORT`` so ``$PORT`` expands to the port the Service targets.
    """
    match = PORT_FLAG_RE.search(command)
    port = int(next(g for g in match.groups() if g)) if match else default_port
    if SHELL_SYNTAX.search(command):
        return ("/bin/sh", "-c", f"exec {command}"), port
    return tuple(shlex.split(command)), port


def _gems(tree: SourceTree, evidence: list[str]) -> set[str]:
    lock = tree.read_text_or_none("Gemfile.lock")
    if lock is None:
        evidence.append("no Gemfile.lock: the build cannot be frozen")
        return set(GEMFILE_GEM_RE.findall(tree.read_text("Gemfile")))
    if "\n<<<<<<< " in f"\n{lock}":
        raise GeneratorError(tree.display("Gemfile.lock"), "has unresolved merge conflict markers")
    headers = {line.strip() for line in lock.splitlines() if line and not line[0].isspace()}
    if not headers & set(LOCK_SECTIONS) or not headers <= {*LOCK_SECTIONS, "RUBY VERSION"}:
        unknown = sorted(headers - {*LOCK_SECTIONS, "RUBY VERSION"})
        detail = f"unexpected line {unknown[0]!r}" if unknown else "no GEM section"
        raise GeneratorError(tree.display("Gemfile.lock"), f"is not a Bundler lockfile: {detail}")
    evidence.append("Gemfile.lock -> bundler (frozen)")
    return set(SPEC_RE.findall(lock))


def _rails(
    tree: SourceTree, gems: set[str], evidence: list[str]
) -> tuple[str, tuple[str, ...], int, str | None, tuple[str, ...] | None]:
    evidence.append("rails gem and config/application.rb -> Rails")
    rails = "./bin/rails" if tree.is_file("bin/rails") else None
    base: tuple[str, ...] = (rails,) if rails else ("bundle", "exec", "rails")
    routes = tree.read_text_or_none("config/routes.rb") or ""
    match = RAILS_HEALTH_RE.search(routes)
    health = "/" + match.group(1).lstrip("/") if match else None
    if health:
        evidence.append(f"config/routes.rb: rails/health#show at {health}")
    migrate = None
    if "activerecord" in gems or tree.is_dir("db/migrate"):
        migrate = (*base, "db:migrate")
    return "rails", (*base, "server", "-b", "0.0.0.0", "-p", "3000"), 3000, health, migrate


def _rack(
    tree: SourceTree, gems: set[str], evidence: list[str]
) -> tuple[str, tuple[str, ...], int, str | None, tuple[str, ...] | None]:
    framework = "sinatra" if "sinatra" in gems else "rack"
    migrate = ("bundle", "exec", "rake", "db:migrate") if "sinatra-activerecord" in gems else None
    health = _route_health(tree)
    if tree.is_file("config.ru"):
        evidence.append(f"config.ru -> {framework}")
        # Puma and rackup both default to 9292 for a config.ru app.
        if "puma" in gems:
            return (
                framework,
                ("bundle", "exec", "puma", "-b", "tcp://0.0.0.0:9292", "config.ru"),
                9292,
                health,
                migrate,
            )
        return (
            framework,
            ("bundle", "exec", "rackup", "-o", "0.0.0.0", "-p", "9292"),
            9292,
            health,
            migrate,
        )
    script = next(
        (
            f
            for f in tree.files
            if f.endswith(".rb") and f.count("/") == 0 and _requires_sinatra(tree, f)
        ),
        None,
    )
    if script is None:
        raise GeneratorError(
            tree.display("Gemfile"),
            "uses sinatra but no config.ru or top-level script requires it",
        )
    evidence.append(f"{script} requires sinatra (classic style, port 4567)")
    return framework, ("bundle", "exec", "ruby", script, "-o", "0.0.0.0"), 4567, health, migrate


def _requires_sinatra(tree: SourceTree, rel: str) -> bool:
    return re.search(r"require\s+[\"']sinatra[\"']", tree.read_text(rel)) is not None


def _route_health(tree: SourceTree) -> str | None:
    for rel in tree.files:
        if rel.endswith((".rb", ".ru")) and rel.count("/") <= 2:
            match = ROUTE_RE.search(tree.read_text(rel))
            if match:
                return match.group(1)
    return None


def _has_assets(gems: set[str]) -> bool:
    return bool(gems & {"propshaft", "sprockets-rails", "sprockets"})


def _first_line(tree: SourceTree, rel: str) -> str | None:
    text = tree.read_text_or_none(rel)
    return text.strip().splitlines()[0] if text and text.strip() else None


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None
