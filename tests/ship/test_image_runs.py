"""The container image and ``deploy/`` run for real, as far as this machine allows: no
container engine runs here, so the image's command is executed directly, with the same
argv, the same environment variables (the image's ``ENV``, plus what ``docker run -e`` or
``deploy/``'s ConfigMap and Secret add), its non-root user id, and a working directory that
user cannot write. Its ``/opt/autostack`` is ``.venv-image``, built by ``make`` with the
Dockerfile's own install command. Each must onboard an app end to end against the
sandbox."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from sandbox.testbed import Testbed
from tests.e2e.conftest import APP_FILES
from tests.ship.test_dockerfile import instructions
from tests.support.ports import documented_ports

ROOT = Path(__file__).resolve().parents[2]
IMAGE_VENV = ROOT / ".venv-image"
DOCKER_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def final_stage() -> list[tuple[str, str]]:
    """The runtime stage's instructions: everything after the last FROM."""
    found = instructions()
    last = max(i for i, (keyword, _) in enumerate(found) if keyword == "FROM")
    return found[last + 1 :]


def image_environment(stage: list[tuple[str, str]]) -> dict[str, str]:
    """The environment a container of the image starts with: Docker's default PATH, then
    the ENV instructions in order, with /opt/autostack where make built it."""
    env = {"PATH": DOCKER_DEFAULT_PATH}
    for keyword, rest in stage:
        if keyword != "ENV":
            continue
        for key, value in re.findall(r"(\w+)=(\S+)", rest):
            value = value.replace("$PATH", env.get("PATH", ""))
            env[key] = value.replace("/opt/autostack", str(IMAGE_VENV))
    return env


def resolve(argv: list[str], env: dict[str, str]) -> list[str]:
    """``argv`` with its program found on ``env``'s PATH, as the container runtime does."""
    program = shutil.which(argv[0], path=env["PATH"])
    assert program, f"{argv[0]} is not on the image's PATH {env['PATH']}"
    return [program, *argv[1:]]


@contextmanager
def data_volume(uid: int) -> Iterator[Path]:
    """An empty volume owned by the image's user, as an emptyDir or a named volume is."""
    path = Path(tempfile.mkdtemp(prefix="autostack-volume-"))
    os.chown(path, uid, uid)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Testbed]:
    bed = Testbed(tmp_path / "bed")
    bed._bot_port = 8000
    with documented_ports():
        try:
            bed.start_sandbox_process()
            bed.create_repo("shop", APP_FILES)  # not onboarded yet
            yield bed
        finally:
            bed.stop()


def app_credentials(bed: Testbed) -> dict[str, str]:
    """What an operator passes as secrets: the key's text, never a path on the host."""
    env = dict(bed.sandbox_env)
    key_file = env.pop("AUTOSTACK_GITHUB_PRIVATE_KEY_FILE")
    env["AUTOSTACK_GITHUB_PRIVATE_KEY"] = Path(key_file).read_text()
    return env


def onboards_the_app(bed: Testbed, uid: int, data: Path) -> None:
    """Installing the App opens both onboarding pull requests, handled by a process that
    runs as ``uid`` and keeps its state in ``data``."""
    assert bed.bot_process is not None
    status = Path(f"/proc/{bed.bot_process.pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s", status, re.M), status
    bed.user("mia", repo="shop", permission="maintain")
    bed.user("mia", repo=bed.gitops_name, permission="maintain")
    bed.install(["shop", bed.gitops_name])
    bed.settle(timeout=60)
    for repo, head in (("shop", "autostack/onboarding"), ("gitops", "autostack/onboard-shop")):
        pulls = bed.rest("GET", f"/repos/{bed.org}/{repo}/pulls", user="mia")
        assert [p["head"]["ref"] for p in pulls] == [head], (repo, bed.bot_process.tail())
    assert any(data.iterdir()), "the bot wrote nothing to its data volume"
    assert not [p for p in ROOT.rglob("*.pyc") if p.stat().st_uid == uid]


def test_the_image_command_onboards_an_app(sandbox: Testbed) -> None:
    stage = final_stage()
    [user] = [rest for keyword, rest in stage if keyword == "USER"]
    uid = int(user.split(":")[0])
    assert uid != 0
    [workdir] = [rest for keyword, rest in stage if keyword == "WORKDIR"]
    assert workdir == "/app"  # the build stage's copy of this repository
    [cmd] = [rest for keyword, rest in stage if keyword == "CMD"]
    env = image_environment(stage)
    with data_volume(uid) as data:
        # docker run -v DATA:/var/lib/autostack --env-file autostack.env IMAGE
        assert env["AUTOSTACK_DATA_DIR"] == "/var/lib/autostack"
        env |= {**app_credentials(sandbox), "AUTOSTACK_DATA_DIR": str(data)}
        argv = resolve(json.loads(cmd), env)
        assert argv[1:] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
        sandbox.start_bot_process(argv=argv, environment=env, user=uid, cwd=ROOT)
        onboards_the_app(sandbox, uid, data)


def rendered_deployment() -> dict[str, Any]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy")], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return {"configmap": configmap["data"], "deployment": deployment}


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"autostack_deploy_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_deploy_s_pod_onboards_an_app_on_postgresql(sandbox: Testbed) -> None:
    rendered = rendered_deployment()
    pod = rendered["deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    uid = container["securityContext"]["runAsUser"]
    assert uid != 0 and container["securityContext"]["readOnlyRootFilesystem"] is True
    env = image_environment(final_stage())
    secrets = app_credentials(sandbox)
    with data_volume(uid) as data, fresh_database() as database_url:
        # The ConfigMap as an operator fills it in for this installation, then the Secret.
        configmap = dict(rendered["configmap"])
        for key in ("GITHUB_API_URL", "GITHUB_URL", "GITOPS_REPO", "ARGOCD_URL"):
            configmap[f"AUTOSTACK_{key}"] = sandbox.sandbox_env[f"AUTOSTACK_{key}"]
        assert configmap["AUTOSTACK_DATA_DIR"] == "/var/lib/autostack"
        configmap["AUTOSTACK_DATA_DIR"] = str(data)
        env |= configmap
        secret = {
            "github-app-id": secrets["AUTOSTACK_GITHUB_APP_ID"],
            "github-private-key": secrets["AUTOSTACK_GITHUB_PRIVATE_KEY"],
            "webhook-secret": secrets["AUTOSTACK_WEBHOOK_SECRET"],
            "argocd-token": secrets["AUTOSTACK_ARGOCD_TOKEN"],
            "database-url": database_url,
        }
        for variable in container["env"]:
            env[variable["name"]] = secret[variable["valueFrom"]["secretKeyRef"]["key"]]
        argv = resolve(container["command"] + container["args"], env)
        sandbox.start_bot_process(argv=argv, environment=env, user=uid, cwd=ROOT)
        onboards_the_app(sandbox, uid, data)
