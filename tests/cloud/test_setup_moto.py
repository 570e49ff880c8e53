"""``autostack aws setup`` against moto as a server: real HTTP through botocore.

The expected documents are written out here in full, from AWS's and GitHub's documentation
(ECR's push permissions, GitHub's OIDC claims), not computed with the code under test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.cloud import command
from bot.cloud.command import Arguments
from bot.cloud.explain import CloudError
from bot.settings import Settings
from generators import cli_generate, initrepo
from tests.cloud.conftest import ACCOUNT, REGION, REGISTRY, Moto
from tests.cloud.faulty_proxy import FaultyProxy

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "apps"
REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/autostack/shop"
ROLE = "autostack-acme-shop"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "GitHubActionsOfTheDefaultBranch",
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": "repo:acme/shop:ref:refs/heads/main",
                }
            },
        }
    ],
}
PUSH_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PushTheAppImages",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            "Resource": REPO_ARN,
        },
        {
            "Sid": "SignInToTheRegistry",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
    ],
}
LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Expire untagged images 7 days after their push",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "Keep the last 100 tagged images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": 100,
            },
            "action": {"type": "expire"},
        },
    ]
}
WRITES = {
    "CreateRepository",
    "PutLifecyclePolicy",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "CreateOpenIDConnectProvider",
    "AddClientIDToOpenIDConnectProvider",
    "CreateRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
}


def setup(**overrides: Any) -> tuple[int, list[str]]:
    values: dict[str, Any] = {"app": "shop", "repo": "acme/shop", "branch": "main"}
    values.update(overrides)
    lines: list[str] = []
    code = command.run(Arguments(**values), Settings(), lines.append)
    return code, lines


def repository(moto: Moto, name: str = "autostack/shop") -> dict[str, Any]:
    ecr: Any = moto.client("ecr")
    return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]


def lifecycle(moto: Moto, name: str = "autostack/shop") -> Any:
    ecr: Any = moto.client("ecr")
    return json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])


def role(moto: Moto) -> dict[str, Any]:
    iam: Any = moto.client("iam")
    return iam.get_role(RoleName=ROLE)["Role"]


def push_policy(moto: Moto) -> Any:
    iam: Any = moto.client("iam")
    return iam.get_role_policy(RoleName=ROLE, PolicyName="autostack-ecr-push")["PolicyDocument"]


def test_the_first_run_creates_everything_with_the_documented_settings(moto: Moto) -> None:
    code, lines = setup()
    assert code == 0, lines
    assert (
        lines[0] == f"AWS account {ACCOUNT}, region {REGION}, as arn:aws:sts::{ACCOUNT}:user/moto"
    )
    assert "Plan: 4 changes" in lines
    assert "Applied 4 changes." in lines

    repo = repository(moto)
    assert repo["repositoryArn"] == REPO_ARN
    assert repo["repositoryUri"] == f"{REGISTRY}/autostack/shop"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert lifecycle(moto) == LIFECYCLE

    iam: Any = moto.client("iam")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
    assert provider["Url"] == "token.actions.githubusercontent.com"
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]

    created = role(moto)
    assert created["Arn"] == ROLE_ARN
    assert created["AssumeRolePolicyDocument"] == TRUST_POLICY
    assert push_policy(moto) == PUSH_POLICY
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["autostack-ecr-push"]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=ROLE)["Tags"]}
    assert tags == {"managed-by": "autostack", "autostack:source-repo": "acme/shop"}
    # Without a GitHub App the variable is the user's to set, with the exact command.
    assert f"      gh variable set AUTOSTACK_AWS_ROLE_ARN --repo acme/shop --body {ROLE_ARN}" in (
        lines
    )
    assert lines[-1] == f"acme/shop: pushes {REGISTRY}/autostack/shop as {ROLE_ARN}"


def test_a_second_run_has_nothing_to_change_and_writes_nothing(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert setup()[0] == 0
    with FaultyProxy(moto.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        code, lines = setup()
    assert code == 0
    assert "Nothing to change." in lines
    assert not any(line.startswith("Plan:") for line in lines)
    assert proxy.seen and not WRITES & set(proxy.seen)


def test_a_dry_run_prints_the_plan_and_changes_nothing(
    moto: Moto, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FaultyProxy(moto.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        code, lines = setup(dry_run=True)
    assert code == 0
    assert lines[lines.index("Plan: 4 changes") + 1 :][:5] == [
        "  + create the IAM OIDC identity provider https://token.actions.githubusercontent.com "
        "(audience sts.amazonaws.com)",
        "  + create ECR repository autostack/shop (scan on push, immutable tags, AES256 "
        "encryption, lifecycle policy)",
        "  + create IAM role autostack-acme-shop, assumable only by GitHub Actions runs of "
        "acme/shop on branch main",
        "  ~ IAM role autostack-acme-shop: set inline policy autostack-ecr-push, push to "
        "autostack/shop only (it is missing)",
        "Dry run: nothing was changed.",
    ]
    assert not WRITES & set(proxy.seen)
    ecr: Any = moto.client("ecr")
    iam: Any = moto.client("iam")
    assert ecr.describe_repositories()["repositories"] == []
    assert iam.list_roles()["Roles"] == []
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []


def test_a_pre_existing_repository_with_other_settings_is_fixed(moto: Moto) -> None:
    ecr: Any = moto.client("ecr")
    ecr.create_repository(
        repositoryName="autostack/shop",
        imageTagMutability="MUTABLE",
        imageScanningConfiguration={"scanOnPush": False},
    )
    other = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 3,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    ecr.put_lifecycle_policy(repositoryName="autostack/shop", lifecyclePolicyText=json.dumps(other))

    code, lines = setup()
    assert code == 0, lines
    assert "  ~ ECR repository autostack/shop: turn scan on push on (it is off)" in lines
    assert "  ~ ECR repository autostack/shop: make tags immutable (they are mutable)" in lines
    assert (
        "  ~ ECR repository autostack/shop: set the lifecycle policy (it differs from the "
        "wanted one)" in lines
    )
    assert not any("create ECR repository" in line for line in lines)
    repo = repository(moto)
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert lifecycle(moto) == LIFECYCLE
    assert "Nothing to change." in setup()[1]


def test_a_drifted_trust_policy_and_role_policy_are_shown_and_fixed(moto: Moto) -> None:
    assert setup()[0] == 0
    iam: Any = moto.client("iam")
    loose = json.loads(json.dumps(TRUST_POLICY))
    loose["Statement"][0]["Condition"] = {
        "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}
    }
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(loose))
    wide = json.loads(json.dumps(PUSH_POLICY))
    wide["Statement"][0]["Resource"] = "*"
    iam.put_role_policy(
        RoleName=ROLE, PolicyName="autostack-ecr-push", PolicyDocument=json.dumps(wide)
    )

    code, lines = setup(dry_run=True)
    assert code == 0
    assert lines[lines.index("Plan: 2 changes") + 1 :][:2] == [
        "  ~ IAM role autostack-acme-shop: reset the trust policy (it differs from: only "
        "acme/shop on branch main)",
        "  ~ IAM role autostack-acme-shop: set inline policy autostack-ecr-push, push to "
        "autostack/shop only (it differs from the wanted one)",
    ]
    assert role(moto)["AssumeRolePolicyDocument"] == loose  # the dry run left it

    assert setup()[0] == 0
    assert role(moto)["AssumeRolePolicyDocument"] == TRUST_POLICY
    assert push_policy(moto) == PUSH_POLICY
    assert "Nothing to change." in setup()[1]


def test_another_default_branch_changes_the_trust_policy(moto: Moto) -> None:
    assert setup()[0] == 0
    code, lines = setup(branch="trunk")
    assert code == 0
    assert (
        "  ~ IAM role autostack-acme-shop: reset the trust policy (it differs from: only "
        "acme/shop on branch trunk)" in lines
    )
    condition = role(moto)["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:acme/shop:ref:refs/heads/trunk"
    )


def test_encryption_that_cannot_change_is_reported_with_what_to_do(moto: Moto) -> None:
    ecr: Any = moto.client("ecr")
    ecr.create_repository(
        repositoryName="autostack/shop",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS"},
    )
    code, lines = setup()
    assert code == 1  # everything else was done; a person has to decide about this
    problems = lines[lines.index("Problems this command does not fix:") + 1]
    assert problems.startswith("  ! ECR repository autostack/shop: it is encrypted with KMS")
    assert "cannot change a repository's encryption after it was created" in problems
    assert "delete the repository" in problems and "--encryption" in problems
    assert role(moto)["AssumeRolePolicyDocument"] == TRUST_POLICY
    assert lifecycle(moto) == LIFECYCLE
    # Asking for what it has settles it.
    assert setup(encryption="KMS")[0] == 0


def test_a_kms_key_is_used_for_a_new_repository(moto: Moto) -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert setup(kms_key=key)[0] == 0
    assert repository(moto)["encryptionConfiguration"] == {
        "encryptionType": "KMS",
        "kmsKey": key,
    }
    assert "Nothing to change." in setup(kms_key=key)[1]


def test_permissions_added_to_the_role_by_hand_are_reported(moto: Moto) -> None:
    assert setup()[0] == 0
    iam: Any = moto.client("iam")
    admin = iam.create_policy(
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=admin)
    iam.put_role_policy(RoleName=ROLE, PolicyName="extra", PolicyDocument=json.dumps(PUSH_POLICY))
    code, lines = setup()
    assert code == 1
    assert any(
        "IAM role autostack-acme-shop: it has permissions beyond pushing its images: inline "
        f"policy extra, managed policy {admin}" in line
        for line in lines
    )


def test_every_app_of_a_gitops_repository_is_set_up(moto: Moto, tmp_path: Path) -> None:
    gitops = tmp_path / "gitops"
    initrepo.init_repository(gitops, repo_url="https://github.com/acme/gitops.git", force=False)
    for name, fixture, source in [
        ("shop", "docker-python", "acme/shop"),
        ("api", "go-gin", "acme/api"),
    ]:
        app_dir = tmp_path / name  # generate writes the Dockerfile and workflow into the app
        shutil.copytree(APPS / fixture, app_dir)
        cli_generate.run(
            app_dir,
            gitops,
            name=name,
            path=None,
            registry=f"{REGISTRY}/autostack",
            source_repo=source,
            dry_run=False,
            out=lambda _: None,
        )
    code, lines = setup(app=None, repo=None, gitops=gitops)
    assert code == 0, lines
    ecr: Any = moto.client("ecr")
    names = sorted(r["repositoryName"] for r in ecr.describe_repositories()["repositories"])
    assert names == ["autostack/api", "autostack/shop"]
    iam: Any = moto.client("iam")
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == [
        "autostack-acme-api",
        "autostack-acme-shop",
    ]
    api_trust = iam.get_role(RoleName="autostack-acme-api")["Role"]["AssumeRolePolicyDocument"]
    assert (
        api_trust["Statement"][0]["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:sub"
        ]
        == "repo:acme/api:ref:refs/heads/main"
    )
    assert "Nothing to change." in setup(app=None, repo=None, gitops=gitops)[1]


def test_region_and_profile_flags_override_the_environment(moto: Moto) -> None:
    code, lines = setup(region="us-east-2")
    assert code == 0, lines
    assert lines[0].startswith(f"AWS account {ACCOUNT}, region us-east-2,")
    ecr: Any = moto.client("ecr", region="us-east-2")
    repo = ecr.describe_repositories(repositoryNames=["autostack/shop"])["repositories"][0]
    assert repo["repositoryArn"] == f"arn:aws:ecr:us-east-2:{ACCOUNT}:repository/autostack/shop"
    with pytest.raises(CloudError, match="no AWS profile named 'nope'"):
        setup(profile="nope")
