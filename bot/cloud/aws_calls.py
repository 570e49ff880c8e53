"""The AWS API requests that apply each planned change (pure: the adapter sends them).

One change may take several requests (a new repository gets its lifecycle policy too);
each names its service, its operation as AWS names it (so the IAM action of a denial is
``<service>:<operation>``), the resource it is about, and its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.cloud import policies
from bot.cloud.desired import MANAGED_TAG
from bot.cloud.plan import (
    AddOidcAudience,
    Change,
    CreateOidcProvider,
    CreateRepository,
    CreateRole,
    EnableScanOnPush,
    MakeTagsImmutable,
    PutLifecyclePolicy,
    PutRolePolicy,
    UpdateTrustPolicy,
)

ROLE_DESCRIPTION = "AutoStack: GitHub Actions of {repo} ({branch}) push its images to ECR"
SOURCE_TAG = "autostack:source-repo"


@dataclass(frozen=True)
class AwsCall:
    service: str  # "ecr" or "iam"
    operation: str  # e.g. CreateRepository
    resource: str  # what it is about, for error messages
    params: dict[str, Any]


def calls(change: Change) -> list[AwsCall]:
    match change:
        case CreateRepository(name=name, encryption=encryption, lifecycle_policy=lifecycle):
            config: dict[str, str] = {"encryptionType": encryption.kind}
            if encryption.kms_key:
                config["kmsKey"] = encryption.kms_key
            create = AwsCall(
                "ecr",
                "CreateRepository",
                name,
                {
                    "repositoryName": name,
                    "imageTagMutability": "IMMUTABLE",
                    "imageScanningConfiguration": {"scanOnPush": True},
                    "encryptionConfiguration": config,
                    "tags": [MANAGED_TAG],
                },
            )
            return [create, *calls(PutLifecyclePolicy(name, lifecycle, drifted=False))]
        case EnableScanOnPush(name=name):
            scan = {"scanOnPush": True}
            params = {"repositoryName": name, "imageScanningConfiguration": scan}
            return [AwsCall("ecr", "PutImageScanningConfiguration", name, params)]
        case MakeTagsImmutable(name=name):
            params = {"repositoryName": name, "imageTagMutability": "IMMUTABLE"}
            return [AwsCall("ecr", "PutImageTagMutability", name, params)]
        case PutLifecyclePolicy(name=name, policy=policy):
            params = {"repositoryName": name, "lifecyclePolicyText": policies.text(policy)}
            return [AwsCall("ecr", "PutLifecyclePolicy", name, params)]
        case CreateOidcProvider(url=url, audience=audience):
            # No thumbprint: IAM trusts GitHub's certificate authority for GitHub's issuer
            # itself, and fetches the thumbprint of any other (GitHub Enterprise Server).
            provider = {"Url": url, "ClientIDList": [audience], "Tags": [MANAGED_TAG]}
            return [AwsCall("iam", "CreateOpenIDConnectProvider", url, provider)]
        case AddOidcAudience(arn=arn, audience=audience):
            params = {"OpenIDConnectProviderArn": arn, "ClientID": audience}
            return [AwsCall("iam", "AddClientIDToOpenIDConnectProvider", arn, params)]
        case CreateRole():
            return [_create_role(change)]
        case UpdateTrustPolicy(name=name, policy=policy):
            params = {"RoleName": name, "PolicyDocument": policies.text(policy)}
            return [AwsCall("iam", "UpdateAssumeRolePolicy", name, params)]
        case PutRolePolicy(role=role, policy_name=policy_name, policy=policy):
            params = {
                "RoleName": role,
                "PolicyName": policy_name,
                "PolicyDocument": policies.text(policy),
            }
            return [AwsCall("iam", "PutRolePolicy", role, params)]
    raise TypeError(f"not an AWS change: {change!r}")


def _create_role(change: CreateRole) -> AwsCall:
    params = {
        "RoleName": change.name,
        "AssumeRolePolicyDocument": policies.text(change.trust_policy),
        "Description": ROLE_DESCRIPTION.format(repo=change.source_repo, branch=change.branch),
        "MaxSessionDuration": 3600,
        "Tags": [*change.tags, {"Key": SOURCE_TAG, "Value": change.source_repo}],
    }
    return AwsCall("iam", "CreateRole", change.name, params)
