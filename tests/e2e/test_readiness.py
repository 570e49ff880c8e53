"""``/readyz`` of ``autostack serve`` run as a user runs it: ready only when GitHub accepts
the App's key and Argo CD its token, so a load balancer sends webhooks to a replica that
can act on them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.processes import Child, autostack_argv, clean_environment
from sandbox.serving import free_port
from sandbox.testbed import Testbed


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Testbed]:
    bed = Testbed(tmp_path / "bed")
    try:
        bed.start_sandbox_process()
        yield bed
    finally:
        bed.stop()


def another_apps_key() -> str:
    """A well-formed key GitHub never issued for this App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def readiness(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """Start serve with ``env``, return the checks of its first answered /readyz."""
    port = free_port()
    argv = autostack_argv("serve", "--port", str(port))
    child = Child("autostack serve", argv, env=clean_environment(env), log=tmp_path / "serve.log")
    child.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            child.check_alive()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
                return {"status": str(answer.status_code), **answer.json()["checks"]}
            except httpx.TransportError:
                assert time.monotonic() < deadline, child.tail()
                time.sleep(0.1)
    finally:
        child.stop()


def test_ready_with_the_sandbox_s_settings(sandbox: Testbed, tmp_path: Path) -> None:
    env = {**sandbox.sandbox_env, "AUTOSTACK_DATA_DIR": str(tmp_path / "data")}
    checks = readiness(tmp_path, env)
    assert checks == {
        "status": "200",
        "handlers": "ok",
        "github_app": "ok",
        "argocd": "ok",
        "database": "ok",
    }


def test_not_ready_when_github_refuses_the_app_s_key(sandbox: Testbed, tmp_path: Path) -> None:
    env = {**sandbox.sandbox_env, "AUTOSTACK_DATA_DIR": str(tmp_path / "data")}
    del env["AUTOSTACK_GITHUB_PRIVATE_KEY_FILE"]
    env["AUTOSTACK_GITHUB_PRIVATE_KEY"] = another_apps_key()
    checks = readiness(tmp_path, env)
    assert checks["status"] == "503"
    assert checks["github_app"].startswith("failing"), checks
    assert checks["argocd"] == "ok" and checks["database"] == "ok"


def test_not_ready_when_argo_cd_cannot_be_reached(sandbox: Testbed, tmp_path: Path) -> None:
    env = {**sandbox.sandbox_env, "AUTOSTACK_DATA_DIR": str(tmp_path / "data")}
    env["AUTOSTACK_ARGOCD_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    checks = readiness(tmp_path, env)
    assert checks["status"] == "503"
    assert checks["argocd"].startswith("failing"), checks
    assert checks["github_app"] == "ok"


def test_not_ready_when_argo_cd_refuses_the_token(sandbox: Testbed, tmp_path: Path) -> None:
    env = {**sandbox.sandbox_env, "AUTOSTACK_DATA_DIR": str(tmp_path / "data")}
    env["AUTOSTACK_ARGOCD_TOKEN"] = "not-the-token"
    checks = readiness(tmp_path, env)
    assert checks["status"] == "503"
    assert checks["argocd"].startswith("failing"), checks
