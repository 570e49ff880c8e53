"""The README's section on ``autostack aws setup`` is true: its shell block runs as written,
its trust and role policies are exactly what the command creates, and the permissions it
tells the operator to grant are every one the command uses, and no more."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from bot.cloud import command
from bot.cloud.command import Arguments
from bot.settings import Settings
from tests.cloud.conftest import ACCOUNT, REGION, Moto, child_environment
from tests.cloud.faulty_proxy import FaultyProxy

README = Path(__file__).resolve().parents[2] / "README.md"
TITLE = "## AWS: ECR and GitHub OIDC (`autostack aws setup`)"
# Tags given when creating a resource need the service's tagging permission too.
TAGGING = {
    "ecr:CreateRepository": "ecr:TagResource",
    "iam:CreateRole": "iam:TagRole",
    "iam:CreateOpenIDConnectProvider": "iam:TagOpenIDConnectProvider",
}


def section() -> str:
    text = README.read_text()
    start = text.index(TITLE)
    end = text.index("\n## ", start + len(TITLE))
    return text[start:end]


def json_blocks() -> list[Any]:
    return [json.loads(b) for b in re.findall(r"^```json\n(.*?)^```", section(), re.S | re.M)]


def sh_block() -> str:
    (block,) = re.findall(r"^```sh\n(.*?)^```", section(), re.S | re.M)
    return str(block)


def setup() -> int:
    args = Arguments(app="shop", repo="acme/shop", branch="main")
    return command.run(args, Settings(), lambda _: None)


def test_the_shell_block_runs_as_the_readme_says(moto: Moto, tmp_path: Path) -> None:
    env = child_environment(moto.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", sh_block()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    dry, applied, nothing = (
        output.index("Dry run: nothing was changed."),
        output.index("Applied 4 changes."),
        output.index("Nothing to change."),
    )
    assert dry < applied < nothing


def test_the_documented_policies_are_the_ones_created(moto: Moto) -> None:
    assert (REGION, ACCOUNT) == ("eu-west-1", "123456789012")  # the README's example values
    trust, push, _ = json_blocks()
    assert setup() == 0
    iam: Any = moto.client("iam")
    role = iam.get_role(RoleName="autostack-acme-shop")["Role"]
    assert role["AssumeRolePolicyDocument"] == trust
    policy = iam.get_role_policy(RoleName="autostack-acme-shop", PolicyName="autostack-ecr-push")
    assert policy["PolicyDocument"] == push


def test_the_documented_permissions_are_exactly_the_ones_used(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    *_, operator = json_blocks()
    # moto does not implement adding an audience to a provider: the proxy answers for it.
    with FaultyProxy(moto.url, stubs={"AddClientIDToOpenIDConnectProvider"}) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        assert setup() == 0  # creates everything
        drift(moto)
        assert setup() == 0  # fixes everything that can drift
    used = proxy.actions - {"sts:GetCallerIdentity"}  # allowed to every identity
    used |= {TAGGING[a] for a in used if a in TAGGING}
    granted = {a for s in operator["Statement"] for a in s["Action"]}
    assert granted == used
    resources = {
        "ecr": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/autostack/shop",
        "oidc": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
        "role": f"arn:aws:iam::{ACCOUNT}:role/autostack-acme-shop",
    }
    for statement in operator["Statement"]:
        assert any(fnmatch(arn, statement["Resource"]) for arn in resources.values()), statement


def drift(moto: Moto) -> None:
    """Everything the command watches, changed by hand."""
    ecr: Any = moto.client("ecr")
    iam: Any = moto.client("iam")
    ecr.put_image_tag_mutability(repositoryName="autostack/shop", imageTagMutability="MUTABLE")
    ecr.put_image_scanning_configuration(
        repositoryName="autostack/shop", imageScanningConfiguration={"scanOnPush": False}
    )
    ecr.delete_lifecycle_policy(repositoryName="autostack/shop")
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["other"]
    )
    anyone = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
            }
        ],
    }
    iam.update_assume_role_policy(RoleName="autostack-acme-shop", PolicyDocument=json.dumps(anyone))
    iam.delete_role_policy(RoleName="autostack-acme-shop", PolicyName="autostack-ecr-push")
