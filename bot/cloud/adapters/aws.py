"""The AWS adapter of ``autostack aws setup``: boto3 observes ECR and IAM and applies changes.

Credentials and region come from boto3's standard chain (environment, profile, SSO, instance
or container role); ``AWS_ENDPOINT_URL`` points every client elsewhere (tests use moto).
Nothing is stored. botocore retries throttling and transient errors itself ("standard" mode,
exponential backoff with jitter); every other error becomes a one-line ``CloudError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.exceptions
from botocore import xform_name
from botocore.config import Config

from bot.cloud import aws_calls, policies
from bot.cloud.desired import ROLE_POLICY_NAME, Account, Desired
from bot.cloud.explain import CloudError, explain
from bot.cloud.plan import Change, Observed, ObservedProvider, ObservedRepository, ObservedRole

RETRY_MODE = "standard"
MAX_ATTEMPTS = 10
NOT_FOUND = frozenset(
    {"RepositoryNotFoundException", "LifecyclePolicyNotFoundException", "NoSuchEntity"}
)


def client_config(max_attempts: int = MAX_ATTEMPTS, mode: str = RETRY_MODE) -> Config:
    return Config(
        retries={"mode": mode, "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=30,
        user_agent_extra="autostack-aws-setup",
    )


def make_session(
    region: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> boto3.Session:
    """boto3's standard chain; the region is ``region``, else ``AWS_REGION`` (which the other
    AWS SDKs and the GitHub Action read, botocore does not), else botocore's own choice
    (``AWS_DEFAULT_REGION``, the profile)."""
    try:
        return boto3.Session(
            region_name=region or environ.get("AWS_REGION") or None, profile_name=profile
        )
    except botocore.exceptions.ProfileNotFound:
        raise CloudError(
            f"no AWS profile named {profile!r} (aws configure list-profiles)"
        ) from None


class AwsAccount:
    """ECR and IAM of the account and region the session's credentials point at."""

    def __init__(self, session: boto3.Session, config: Config | None = None):
        region = session.region_name
        if not region:
            raise CloudError(
                "no AWS region: set AWS_REGION (or a region in the AWS profile) or pass --region"
            )
        self.region = region
        config = config or client_config()
        self._ecr = session.client("ecr", config=config)
        self._iam = session.client("iam", config=config)
        self._sts = session.client("sts", config=config)
        self._clients = {"ecr": self._ecr, "iam": self._iam}

    # --- reading ---------------------------------------------------------------------

    def whoami(self) -> tuple[Account, str]:
        """The account and the caller's ARN (STS GetCallerIdentity needs no permission)."""
        identity = _call(self._sts, "GetCallerIdentity", "the caller")
        arn = str(identity["Arn"])
        return Account(str(identity["Account"]), self.region, arn.split(":")[1]), arn

    def observe(self, desired: Desired) -> Observed:
        repositories = {r.name: self._repository(r.name) for r in desired.repositories}
        roles = {r.name: self._role(r.name) for r in desired.roles}
        return Observed(repositories, self._provider(desired.provider.arn), roles)

    def _repository(self, name: str) -> ObservedRepository | None:
        found = _maybe(self._ecr, "DescribeRepositories", name, repositoryNames=[name])
        if found is None:
            return None
        repo = found["repositories"][0]
        lifecycle = _maybe(
            self._ecr, "GetLifecyclePolicy", repo["repositoryArn"], repositoryName=name
        )
        encryption = repo.get("encryptionConfiguration") or {"encryptionType": "AES256"}
        return ObservedRepository(
            name=name,
            arn=repo["repositoryArn"],
            uri=repo["repositoryUri"],
            scan_on_push=bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")),
            tag_mutability=str(repo.get("imageTagMutability") or "MUTABLE"),
            encryption_type=str(encryption.get("encryptionType")),
            kms_key=encryption.get("kmsKey"),
            lifecycle_policy=policies.parse(lifecycle["lifecyclePolicyText"])
            if lifecycle
            else None,
        )

    def _provider(self, arn: str) -> ObservedProvider | None:
        found = _maybe(self._iam, "GetOpenIDConnectProvider", arn, OpenIDConnectProviderArn=arn)
        if found is None:
            return None
        return ObservedProvider(arn, tuple(found.get("ClientIDList") or ()))

    def _role(self, name: str) -> ObservedRole | None:
        found = _maybe(self._iam, "GetRole", name, RoleName=name)
        if found is None:
            return None
        arn = found["Role"]["Arn"]
        inline = _maybe(self._iam, "GetRolePolicy", arn, RoleName=name, PolicyName=ROLE_POLICY_NAME)
        names = _pages(self._iam, "ListRolePolicies", arn, "PolicyNames", RoleName=name)
        attached = _pages(
            self._iam, "ListAttachedRolePolicies", arn, "AttachedPolicies", RoleName=name
        )
        return ObservedRole(
            name=name,
            arn=arn,
            trust_policy=policies.parse(found["Role"].get("AssumeRolePolicyDocument")),
            push_policy=policies.parse(inline["PolicyDocument"]) if inline else None,
            other_inline_policies=tuple(n for n in names if n != ROLE_POLICY_NAME),
            attached_policies=tuple(p["PolicyArn"] for p in attached),
        )

    # --- acting ----------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        for call in aws_calls.calls(change):
            _call(self._clients[call.service], call.operation, call.resource, **call.params)


def _call(client: Any, operation: str, resource: str, **params: Any) -> Any:
    """The API ``operation`` (as AWS names it); every botocore failure becomes a one-line
    ``CloudError`` naming the IAM action and ``resource``."""
    try:
        return getattr(client, xform_name(operation))(**params)
    except botocore.exceptions.ClientError as exc:
        raise _client_error(client, operation, resource, exc) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _botocore_error(client, operation, exc) from None


def _maybe(client: Any, operation: str, resource: str, **params: Any) -> Any:
    """``_call``, or None when AWS answers that the thing does not exist."""
    try:
        return getattr(client, xform_name(operation))(**params)
    except botocore.exceptions.ClientError as exc:
        if (exc.response.get("Error") or {}).get("Code") in NOT_FOUND:
            return None
        raise _client_error(client, operation, resource, exc) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _botocore_error(client, operation, exc) from None


def _pages(client: Any, operation: str, resource: str, key: str, **params: Any) -> list[Any]:
    try:
        pages = client.get_paginator(xform_name(operation)).paginate(**params)
        return [item for page in pages for item in page[key]]
    except botocore.exceptions.ClientError as exc:
        raise _client_error(client, operation, resource, exc) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _botocore_error(client, operation, exc) from None


def _client_error(
    client: Any, operation: str, resource: str, exc: botocore.exceptions.ClientError
) -> CloudError:
    error = exc.response.get("Error") or {}
    code, message = str(error.get("Code") or "Unknown"), str(error.get("Message") or "")
    prefix = client.meta.service_model.signing_name
    return explain(prefix, exc.operation_name or operation, code, message, resource)


def _botocore_error(client: Any, operation: str, exc: BaseException) -> CloudError:
    action = f"{client.meta.service_model.signing_name}:{operation}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return CloudError(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), run aws sso login, or run where an instance role applies"
        )
    if isinstance(exc, botocore.exceptions.TokenRetrievalError):
        return CloudError(f"the AWS SSO session cannot be used ({exc}): run aws sso login")
    if isinstance(
        exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
    ):
        return CloudError(f"cannot reach AWS for {action}: {exc}")
    return CloudError(f"AWS {action} failed: {exc}")
