"""``.github/autostack.yml`` in the app repository: what detection cannot know.

Every key is optional. The bot reads the file from the default branch only; the CLI reads
it from the app directory. Unknown keys and wrong types are one-line errors naming the key.
"""

from __future__ import annotations

from typing import Any

from generators.errors import GeneratorError
from generators.model import AppConfig, Resources
from generators.naming import validate_app_name
from generators.yamlio import YAMLError, safe_load

APP_CONFIG_FILE = ".github/autostack.yml"
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
    try:
        data = safe_load(text)
    except YAMLError as exc:
        raise GeneratorError(path, f"malformed YAML: {' '.join(str(exc).split())[:200]}") from exc
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
        raise GeneratorError(path, f"{key}: must be a {kind.__name__}, got {value!r}")
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
    text = _typed(value, str, "health_path", path)
    if not text.startswith("/") or any(c.isspace() for c in text):
        raise GeneratorError(path, f"health_path: {text!r} must be a URL path such as /healthz")
    return str(text)


def _subdir(value: Any, path: str) -> str | None:
    if value is None:
        return None
    text = _typed(value, str, "path", path).strip("/")
    if not text or ".." in text.split("/") or "\n" in text:
        raise GeneratorError(path, f"path: {value!r} must be a subdirectory of the repository")
    return str(text)


def _argv(value: Any, key: str, path: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise GeneratorError(path, f"{key}: must be a list of strings (exec form) or a string")
    return tuple(value)


def _replicas(value: Any, path: str) -> dict[str, int]:
    if value is None:
        return {}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"*": value}
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        return dict(value)
    raise GeneratorError(path, "replicas: must be a number or a map of environment to number")


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
            fields[field] = str(amount)
    return Resources(**fields)


def _env(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GeneratorError(path, "env: must be a mapping of NAME: value")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise GeneratorError(path, f"env: {key!r} is not a valid variable name")
        if isinstance(item, dict | list) or item is None:
            raise GeneratorError(path, f"env.{key}: must be a plain value")
        out[key] = str(item).lower() if isinstance(item, bool) else str(item)
    return out
