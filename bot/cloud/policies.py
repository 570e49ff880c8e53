"""The JSON documents ``autostack aws setup`` writes, and how to tell whether two are the same.

AWS gives policies back reformatted (whitespace, a one-item list as a string, statements
and actions in another order), so drift is judged on a canonical form, never on the text.
"""

from __future__ import annotations

import json
from typing import Any

POLICY_VERSION = "2012-10-17"
AUDIENCE = "sts.amazonaws.com"
# What a push needs on the one repository, as AWS documents it ("IAM permissions for pushing
# an image to an Amazon ECR private repository"); sign-in needs GetAuthorizationToken on *.
PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
SIGN_IN_ACTION = "ecr:GetAuthorizationToken"

Document = dict[str, Any]


def trust_policy(provider_arn: str, issuer: str, repo: str, branch: str) -> Document:
    """Only GitHub Actions runs of ``repo``'s ``branch`` may assume the role, and only with
    a token minted for AWS STS."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "GitHubActionsOfTheDefaultBranch",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:aud": AUDIENCE,
                        f"{issuer}:sub": f"repo:{repo}:ref:refs/heads/{branch}",
                    }
                },
            }
        ],
    }


def push_policy(repository_arns: list[str]) -> Document:
    """Push to these repositories (an app repository's apps) and nothing else."""
    resource: str | list[str] = (
        repository_arns[0] if len(repository_arns) == 1 else sorted(repository_arns)
    )
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "PushTheAppImages",
                "Effect": "Allow",
                "Action": list(PUSH_ACTIONS),
                "Resource": resource,
            },
            {
                "Sid": "SignInToTheRegistry",
                "Effect": "Allow",
                "Action": SIGN_IN_ACTION,
                "Resource": "*",
            },
        ],
    }


def lifecycle_policy(keep_tagged: int, untagged_days: int) -> Document:
    """Expire untagged images after ``untagged_days``; keep the last ``keep_tagged`` tagged."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images {untagged_days} days after their push",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {keep_tagged} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_tagged,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def text(document: Document) -> str:
    """The document as AWS is sent it: compact, keys in a stable order."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def same_policy(a: Any, b: Any) -> bool:
    """Whether two IAM policies say the same, however AWS formatted them."""
    return _canonical_policy(a) == _canonical_policy(b)


def same_lifecycle(a: Any, b: Any) -> bool:
    """Whether two ECR lifecycle policies have the same rules (descriptions aside)."""
    return _canonical_lifecycle(a) == _canonical_lifecycle(b)


def parse(document: str | Document | None) -> Any:
    """A policy as a value: boto3 gives IAM documents decoded, ECR's as text."""
    if document is None or isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return document  # unreadable: compares unequal to anything we write


def _canonical_policy(policy: Any) -> Any:
    if not isinstance(policy, dict):
        return policy
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    canonical = [_canonical_statement(s) for s in statements]
    return {
        "Version": policy.get("Version"),
        "Statement": sorted(canonical, key=lambda s: json.dumps(s, sort_keys=True)),
    }


def _canonical_statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return statement
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key == "Sid":
            continue  # a label: renaming it changes nothing that is allowed
        out[key] = _canonical_value(value)
    return out


def _canonical_value(value: Any) -> Any:
    """A one-item list and its item are the same to IAM, as is the order of a list."""
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items()}
    items = value if isinstance(value, list) else [value]
    return sorted((_canonical_value(i) if isinstance(i, dict) else i for i in items), key=str)


def _canonical_lifecycle(policy: Any) -> Any:
    if not isinstance(policy, dict) or not isinstance(policy.get("rules"), list):
        return policy
    rules = [
        {k: v for k, v in rule.items() if k != "description"} if isinstance(rule, dict) else rule
        for rule in policy["rules"]
    ]
    return sorted(rules, key=lambda r: json.dumps(r, sort_keys=True))
