"""Fixtures: moto as a server child process (real HTTP through botocore), emptied before each
test, and an AWS environment that points boto3 at it and at nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from sandbox.serving import free_port

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@dataclass
class Moto:
    url: str
    log: Path

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def client(self, service: str, endpoint: str | None = None, region: str = REGION) -> object:
        """A boto3 client of moto itself (``endpoint`` to go through a proxy)."""
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint or self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def aws_environment(endpoint: str) -> dict[str, str]:
    """The only AWS configuration the code under test gets: documented variables."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        # No profile, config file or instance metadata of the machine running the tests.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def child_environment(endpoint: str) -> dict[str, str]:
    """This process's environment without AWS_* or AUTOSTACK_* settings, plus moto's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOSTACK_", "BOTO"))}
    env.update(aws_environment(endpoint))
    return env


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    moto = Moto(f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_up(moto, child)
        yield moto
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_until_up(moto: Moto, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"moto_server exited: {moto.log.read_text()[-2000:]}")
        try:
            moto.reset()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start within 60 s")


@pytest.fixture
def moto(moto_server: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """An empty moto, and this process's environment pointing boto3 at it."""
    moto_server.reset()
    for name in list(os.environ):
        if name.startswith(("AWS_", "AUTOSTACK_", "BOTO")):
            monkeypatch.delenv(name)
    for name, value in aws_environment(moto_server.url).items():
        monkeypatch.setenv(name, value)
    return moto_server
