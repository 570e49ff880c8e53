"""Detection of PHP apps, Laravel first, then plain PHP: the PHP version composer.json
targets, the extensions it requires, and the document root Apache serves."""

from __future__ import annotations

import re
from typing import Any

from generators.detect import register
from generators.detect.versions import clean_version, resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

# Extensions docker-php-ext-install builds without extra system libraries.
SIMPLE_EXTENSIONS = frozenset(
    {"bcmath", "calendar", "exif", "mysqli", "pcntl", "pdo_mysql", "sockets"}
)
# Extensions compiled into the official php image.
BUILTIN_EXTENSIONS = frozenset(
    {
        "ctype",
        "curl",
        "dom",
        "fileinfo",
        "filter",
        "hash",
        "iconv",
        "json",
        "libxml",
        "mbstring",
        "openssl",
        "pcre",
        "pdo",
        "pdo_sqlite",
        "phar",
        "posix",
        "readline",
        "reflection",
        "session",
        "simplexml",
        "sodium",
        "spl",
        "sqlite3",
        "tokenizer",
        "xml",
        "xmlreader",
        "xmlwriter",
        "zlib",
    }
)
LARAVEL_HEALTH_RE = re.compile(r"health:\s*['\"](/[^'\"]*)['\"]")
PORT = 8080  # Apache moved off 80: a non-root user cannot bind ports below 1024


@register("php")
def detect_php(tree: SourceTree) -> Stack | None:
    has_composer = tree.is_file("composer.json")
    if not has_composer and not (tree.is_file("index.php") or tree.is_file("public/index.php")):
        return None
    composer = _composer(tree) if has_composer else {}
    require = _section(tree, composer, "require")
    evidence = ["found composer.json" if has_composer else "found index.php"]
    version, source = resolve(
        tree,
        "php",
        (_platform_php(composer), "composer.json config.platform.php"),
        (_first_line(tree, ".php-version"), ".php-version"),
        (_minor(require.get("php")), "composer.json require.php"),
    )
    evidence.append(f"{source} -> php {version}")
    locked = tree.is_file("composer.lock")
    if has_composer:
        evidence.append("composer.lock -> composer install" if locked else "no composer.lock")
    extensions, missing = _extensions(require)
    if missing:
        evidence.append(f"needs system libraries for ext-{', ext-'.join(missing)}: add them")
    laravel = "laravel/framework" in require and tree.is_file("artisan")
    health = _laravel_health(tree) if laravel else None
    if laravel:
        evidence.append("laravel/framework and artisan -> Laravel")
    docroot = "public" if laravel or tree.is_file("public/index.php") else ""
    return Stack(
        language="php",
        framework="laravel" if laravel else None,
        package_manager="composer" if has_composer else None,
        runtime_version=version,
        version_source=source,
        start_command=("apache2-foreground",),
        port=PORT,
        health_path=health,
        template="php",
        options={
            "composer": "1" if has_composer else "0",
            "locked": "1" if locked else "0",
            "extensions": " ".join(extensions),
            "docroot": docroot,
            "laravel": "1" if laravel else "0",
        },
        migrate_command=("php", "artisan", "migrate", "--force") if laravel else None,
        evidence=tuple(evidence),
    )


def _composer(tree: SourceTree) -> dict[str, Any]:
    data = tree.read_json("composer.json")
    if not isinstance(data, dict):
        raise GeneratorError(tree.display("composer.json"), "must be a JSON object")
    return data


def _section(tree: SourceTree, composer: dict[str, Any], key: str) -> dict[str, str]:
    value = composer.get(key, {})
    # Composer writes an empty object as [] when a PHP array round-trips.
    if value == []:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise GeneratorError(
            tree.display("composer.json"), f"{key!r} must map package names to version strings"
        )
    return value


def _platform_php(composer: dict[str, Any]) -> str | None:
    config = composer.get("config", {})
    platform = config.get("platform", {}) if isinstance(config, dict) else {}
    php = platform.get("php") if isinstance(platform, dict) else None
    return php if isinstance(php, str) else None


def _minor(constraint: str | None) -> str | None:
    """``^8.2`` or ``>=8.2.4`` -> ``8.2``: a constraint names a release line, not a patch."""
    version = clean_version(constraint) if constraint else None
    return ".".join(version.split(".")[:2]) if version else None


def _extensions(require: dict[str, str]) -> tuple[list[str], list[str]]:
    wanted = {name[4:].lower() for name in require if name.lower().startswith("ext-")}
    wanted -= BUILTIN_EXTENSIONS
    install = sorted({"opcache"} | (wanted & SIMPLE_EXTENSIONS))
    return install, sorted(wanted - SIMPLE_EXTENSIONS - {"opcache"})


def _laravel_health(tree: SourceTree) -> str | None:
    # Laravel 11 declares its health route in bootstrap/app.php: ->withRouting(health: '/up')
    match = LARAVEL_HEALTH_RE.search(tree.read_text_or_none("bootstrap/app.php") or "")
    return match.group(1) if match else None


def _first_line(tree: SourceTree, rel: str) -> str | None:
    text = tree.read_text_or_none(rel)
    return text.strip().splitlines()[0] if text and text.strip() else None
