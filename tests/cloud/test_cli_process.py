"""``autostack aws setup`` as users run it: the installed console script in a child process,
configured through the environment only, against moto (directly or behind a proxy that
throttles or denies like AWS)."""

from __future__ import annotations

import subprocess
from typing import Any

from sandbox.processes import autostack_argv
from tests.cloud.conftest import ACCOUNT, REGION, Moto, child_environment
from tests.cloud.faulty_proxy import Fault, FaultyProxy

REPO_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/autostack/shop"


def autostack(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        autostack_argv("aws", "setup", *args),
        env=child_environment(endpoint),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_names_every_option(moto: Moto) -> None:
    done = autostack(moto.url, "--help")
    assert done.returncode == 0, done.stderr
    for option in [
        "--app",
        "--repo",
        "--gitops",
        "--branch",
        "--prefix",
        "--keep-tagged",
        "--untagged-days",
        "--encryption",
        "--kms-key",
        "--region",
        "--profile",
        "--dry-run",
    ]:
        assert option in done.stdout, option
    top = subprocess.run(autostack_argv("aws", "--help"), capture_output=True, text=True)
    assert top.returncode == 0 and "setup" in top.stdout


def test_the_command_line_sets_up_an_app_from_the_environment_alone(moto: Moto) -> None:
    first = autostack(moto.url, "--app", "shop", "--repo", "acme/shop")
    assert first.returncode == 0, first.stderr
    assert "Applied 4 changes." in first.stdout
    assert "The default branch of acme/shop is taken to be main" in first.stdout
    ecr: Any = moto.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=["autostack/shop"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    again = autostack(moto.url, "--app", "shop", "--repo", "acme/shop")
    assert again.returncode == 0, again.stderr
    assert "Nothing to change." in again.stdout.splitlines()
    assert "testing" not in first.stdout + again.stdout  # the secret key is never printed


def test_throttling_is_retried_by_botocore_until_it_passes(moto: Moto) -> None:
    faults = [
        Fault("CreateRepository", "ThrottlingException", "Rate exceeded", times=2),
        Fault("CreateRole", "Throttling", "Rate exceeded", times=2),
        Fault("GetCallerIdentity", "Throttling", "Rate exceeded", times=1),
    ]
    with FaultyProxy(moto.url, faults) as proxy:
        done = autostack(proxy.url, "--app", "shop", "--repo", "acme/shop", "--branch", "main")
    assert done.returncode == 0, done.stderr
    assert "Applied 4 changes." in done.stdout
    assert sorted(proxy.answered) == [
        ("CreateRepository", "ThrottlingException"),
        ("CreateRepository", "ThrottlingException"),
        ("CreateRole", "Throttling"),
        ("CreateRole", "Throttling"),
        ("GetCallerIdentity", "Throttling"),
    ]
    # Each throttled request was sent again, and the third try went through.
    assert proxy.seen.count("CreateRepository") == 3
    assert proxy.seen.count("CreateRole") == 3
    iam: Any = moto.client("iam")
    assert iam.get_role(RoleName="autostack-acme-shop")["Role"]["RoleName"]


def test_access_denied_names_the_action_and_resource_in_one_line(moto: Moto) -> None:
    message = (
        f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: "
        f"ecr:CreateRepository on resource: {REPO_ARN} because no identity-based policy "
        "allows the ecr:CreateRepository action"
    )
    with FaultyProxy(
        moto.url, [Fault("CreateRepository", "AccessDeniedException", message)]
    ) as proxy:
        done = autostack(proxy.url, "--app", "shop", "--repo", "acme/shop", "--branch", "main")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"autostack: error: AWS denied ecr:CreateRepository on {REPO_ARN} to "
        f"arn:aws:iam::{ACCOUNT}:user/ci: allow ecr:CreateRepository on that resource to the "
        "identity running autostack aws setup (the permissions it needs are in the README, "
        '"AWS: ECR and GitHub OIDC")'
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert proxy.seen.count("CreateRepository") == 1  # a denial is not retried
    assert "Stopped after 1 of 4 changes." in done.stdout  # the provider was created first


def test_access_denied_without_details_is_explained_from_the_operation(moto: Moto) -> None:
    with FaultyProxy(moto.url, [Fault("GetRole", "AccessDenied", "Access denied")]) as proxy:
        done = autostack(proxy.url, "--app", "shop", "--repo", "acme/shop", "--dry-run")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "autostack: error: AWS denied iam:GetRole on autostack-acme-shop: allow iam:GetRole on "
        "that resource to the identity running autostack aws setup (the permissions it needs "
        'are in the README, "AWS: ECR and GitHub OIDC")'
    ]
    assert proxy.answered == [("GetRole", "AccessDenied")]


def test_missing_credentials_and_region_are_one_line_errors(moto: Moto) -> None:
    env = child_environment(moto.url)
    del env["AWS_REGION"]
    done = subprocess.run(
        autostack_argv("aws", "setup", "--app", "shop", "--repo", "acme/shop"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "autostack: error: no AWS region: set AWS_REGION (or a region in the AWS profile) or "
        "pass --region"
    ]
    env = child_environment(moto.url)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    done = subprocess.run(
        autostack_argv("aws", "setup", "--app", "shop", "--repo", "acme/shop"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("autostack: error: no AWS credentials found")
