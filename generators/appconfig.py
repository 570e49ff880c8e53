"""``.github/autostack.yml`` in the app repository: what detection cannot know.

Every key is optional. The bot reads the file from the default branch only; the CLI reads
it from the app directory. Unknown keys and wrong types are one-line errors naming the key.
"""

from __future__ import annotations

import reprlib
from typing import Any

from generators import yamlio
from generators.errors import GeneratorError
from generators.gitops import QUANTITY
from generators.model import AppConfig, Resources
from generators.naming import validate_app_name
from generators.paths import relative_path

APP_CONFIG_FILE = ".github/autostack.yml"
# Bounds on what the file may hold, far above any real use: each value ends up in a
# manifest, a Dockerfile or a message, and none of those should grow with an attacker.
MAX_PATH = 1024  # health_path, path
MAX_QUANTITY = 32  # a resource amount: "250m", "1.5Gi"
MAX_ARGS = 64  # words of command and migrate
MAX_ARG = 4096  # one word of a command
MAX_ENV = 256  # variables
MAX_ENV_VALUE = 8192  # one variable's value
MAX_REPLICAS = 1000
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
_RESOURCE_KEYS = {
    ("requests", "cpu"): "cpu_request",
    ("requests", "memory"): "memory_request",
    ("requests", "ephemeral-storage"): "storage_request",
    ("limits", "cpu"): "cpu_limit",
    ("limits", "memory"): "memory_limit",
    ("limits", "ephemeral-storage"): "storage_limit",
}
_KEYS = (
    "name",
    "port",
    "health_path",
    "path",
    "command",
    "migrate",
    "replicas",
    "resources",
    "env",
)


def parse_app_config(text: str, path: str = APP_CONFIG_FILE) -> AppConfig:
    data = yamlio.load(text, path)
    if data is None:
        return AppConfig()
    if not isinstance(data, dict):
        raise GeneratorError(path, "must be a mapping of settings")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise GeneratorError(path, f"unknown key {unknown[0]!r}; known keys: {', '.join(_KEYS)}")
    name = data.get("name")
    if name is not None:
        validate_app_name(_typed(name, str, "name", path), f"{path}: name")
    return AppConfig(
        name=name,
        port=_port(data.get("port"), path),
        health_path=_health_path(data.get("health_path"), path),
        path=_subdir(data.get("path"), path),
        command=_argv(data.get("command"), "command", path),
        migrate=_argv(data.get("migrate"), "migrate", path),
        replicas=_replicas(data.get("replicas"), path),
        resources=_resources(data.get("resources"), path),
        env=_env(data.get("env"), path),
    )


def _typed(value: Any, kind: type, key: str, path: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise GeneratorError(path, f"{key}: must be a {kind.__name__}, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """``repr(value)``, cut short: a value may be huge, or a structure of shared parts."""
    return _SHOWN.repr(value)


def _bounded(value: str, limit: int, key: str, path: str) -> str:
    if len(value) > limit:
        raise GeneratorError(path, f"{key}: is longer than {limit} characters")
    if "\0" in value:
        raise GeneratorError(path, f"{key}: contains a NUL character")
    return value


def _port(value: Any, path: str) -> int | None:
    if value is None:
        return None
    port = _typed(value, int, "port", path)
    if not 1 <= port <= 65535:
        raise GeneratorError(path, f"port: {port} is not a TCP port (1-65535)")
    return int(port)


def _health_path(value: Any, path: str) -> str | None:
    if value is None:
        return None
    text = _bounded(_typed(value, str, "health_path", path), MAX_PATH, "health_path", path)
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise GeneratorError(
            path, f"health_path: {_shown(text)} must be a URL path such as /healthz"
        )
    return str(text)


def _subdir(value: Any, path: str) -> str | None:
    if value is None:
        return None
    text = _bounded(_typed(value, str, "path", path), MAX_PATH, "path", path)
    return relative_path(text, f"{path}: path")


def _argv(value: Any, key: str, path: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise GeneratorError(path, f"{key}: must be a list of strings (exec form) or a string")
    if len(value) > MAX_ARGS:
        raise GeneratorError(path, f"{key}: has more than {MAX_ARGS} words")
    return tuple(_bounded(word, MAX_ARG, key, path) for word in value)


def _replicas(value: Any, path: str) -> dict[str, int]:
    if value is None:
        return {}
    counts = {"*": value} if not isinstance(value, dict) else value
    if all(
        isinstance(k, str)
        and len(k) <= 63
        and isinstance(v, int)
        and not isinstance(v, bool)
        and 0 <= v <= MAX_REPLICAS
        for k, v in counts.items()
    ):
        return dict(counts)
    raise GeneratorError(
        path,
        f"replicas: must be a number from 0 to {MAX_REPLICAS} "
        "or a map of environment to such a number",
    )


def _resources(value: Any, path: str) -> Resources | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise GeneratorError(path, "resources: must be a mapping with requests and limits")
    fields: dict[str, str] = {}
    for group, items in value.items():
        if group not in ("requests", "limits") or not isinstance(items, dict):
            raise GeneratorError(path, f"resources.{group}: expected requests or limits mapping")
        for key, amount in items.items():
            field = _RESOURCE_KEYS.get((group, key))
            if field is None:
                raise GeneratorError(path, f"resources.{group}.{key}: unknown resource")
            fields[field] = _quantity(amount, f"resources.{group}.{key}", path)
    return Resources(**fields)


def _env(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GeneratorError(path, "env: must be a mapping of NAME: value")
    if len(value) > MAX_ENV:
        raise GeneratorError(path, f"env: has more than {MAX_ENV} variables")
    out: dict[str, str] = {}
    for key, item in value.items():
        if (
            not isinstance(key, str)
            or not key.isascii()
            or not key.replace("_", "a").isalnum()
            or key[0].isdigit()
            or len(key) > 253
        ):
            raise GeneratorError(path, f"env: {_shown(key)} is not a valid variable name")
        if not isinstance(item, str | int | float | bool):
            raise GeneratorError(path, f"env.{key}: must be a plain value")
        text = str(item).lower() if isinstance(item, bool) else str(item)
        out[key] = _bounded(text, MAX_ENV_VALUE, f"env.{key}", path)
    return out


def _quantity(amount: Any, key: str, path: str) -> str:
    """A Kubernetes quantity such as ``250m`` or ``1Gi``, from a string or a number."""
    if isinstance(amount, bool) or not isinstance(amount, str | int | float):
        raise GeneratorError(path, f"{key}: must be a quantity such as 250m, got {_shown(amount)}")
    text = _bounded(str(amount), MAX_QUANTITY, key, path)
    if not QUANTITY.match(text):
        raise GeneratorError(path, f"{key}: {text!r} is not a Kubernetes quantity")
    return text
