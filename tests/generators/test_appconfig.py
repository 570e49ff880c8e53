"""``.github/autostack.yml`` parsing and app-name rules."""

from __future__ import annotations

import pytest

from generators.appconfig import parse_app_config
from generators.errors import GeneratorError
from generators.model import Resources
from generators.naming import derive_app_name, validate_app_name


def test_full_config() -> None:
    config = parse_app_config(
        """
name: shop
port: 8080
health_path: /healthz
path: services/shop
command: ["gunicorn", "shop.wsgi"]
migrate: python manage.py migrate
replicas: {dev: 1, prod: 3}
resources:
  requests: {cpu: 250m, memory: 256Mi}
  limits: {memory: 1Gi, ephemeral-storage: 1Gi}
env:
  LOG_LEVEL: info
  DEBUG: false
  WORKERS: 4
"""
    )
    assert config.name == "shop" and config.port == 8080
    assert config.path == "services/shop"
    assert config.command == ("gunicorn", "shop.wsgi")
    assert config.migrate == ("python", "manage.py", "migrate")
    assert config.replicas == {"dev": 1, "prod": 3}
    assert config.resources == Resources(
        cpu_request="250m", memory_request="256Mi", memory_limit="1Gi", storage_limit="1Gi"
    )
    assert config.env == {"LOG_LEVEL": "info", "DEBUG": "false", "WORKERS": "4"}


def test_empty_file_is_all_defaults() -> None:
    assert parse_app_config("").port is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: 99999", "port: 99999 is not a TCP port"),
        ("port: '80'", "port: must be a int"),
        ("prot: 80", "unknown key 'prot'"),
        ("health_path: healthz", "must be a URL path"),
        ("path: ../other", "must stay inside the repository"),
        ("name: My_App", "not a DNS-1123 label"),
        ("replicas: lots", "replicas: must be a number"),
        ("resources: {requests: {gpu: 1}}", "resources.requests.gpu: unknown resource"),
        ("env: {1BAD: x}", "is not a valid variable name"),
        ("env: {A: [1]}", "env.A: must be a plain value"),
        ("command: 5", "command: must be a list of strings"),
        ("a: [", "malformed YAML"),
        ("- just a list", "must be a mapping"),
    ],
)
def test_bad_config_names_file_and_key(text: str, message: str) -> None:
    with pytest.raises(GeneratorError) as err:
        parse_app_config(text, "app/.github/autostack.yml")
    assert str(err.value).startswith("app/.github/autostack.yml: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name",
    ["", "-shop", "shop-", "Shop", "shop_1", "a/b", "..", "shop\nkind: Secret", "a: b", "x" * 41],
)
def test_invalid_app_names(name: str) -> None:
    with pytest.raises(GeneratorError) as err:
        validate_app_name(name)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("repo", "expected"),
    [("Shop", "shop"), ("my_cool.App", "my-cool-app"), ("--x--", "x"), ("API2", "api2")],
)
def test_derive_app_name(repo: str, expected: str) -> None:
    assert derive_app_name(repo) == expected


def test_derive_refuses_nothing_usable() -> None:
    with pytest.raises(GeneratorError, match="pass --name"):
        derive_app_name("___")
