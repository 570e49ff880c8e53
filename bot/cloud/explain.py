"""AWS's error answers as one line a person can act on (pure: the adapter hands in the parts).

An AccessDenied names the IAM action that was denied and the resource: taken from AWS's own
message when it says ("... is not authorized to perform: ecr:CreateRepository on resource:
arn:..."), else from the API operation, whose IAM action has the same name for every call
``autostack aws setup`` makes (CreateRepository -> ecr:CreateRepository).
"""

from __future__ import annotations

import re

README_SECTION = 'README, "AWS: ECR and GitHub OIDC"'
DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
    }
)
BAD_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
)
NOT_AUTHORIZED = re.compile(
    r"(?:User|Principal):\s*(?P<who>\S+)\s+is not authorized to perform:\s*"
    r"(?P<action>[A-Za-z0-9-]+:[A-Za-z0-9*]+)"
    r"(?:\s+on resource:\s*(?P<resource>[^\s]+?))?"
    r"(?=\s+(?:because|with)\b|\s*$|\s)"
)
MAX_MESSAGE = 200


class CloudError(Exception):
    """A failure of ``autostack aws setup`` told in one line; the CLI exits 2 with it."""


def iam_action(service_prefix: str, operation: str) -> str:
    return f"{service_prefix}:{operation}"


def explain(
    service_prefix: str, operation: str, code: str, message: str, resource: str
) -> CloudError:
    """The one-line error for AWS answering ``code``/``message`` to ``operation`` on
    ``resource`` (the ARN or name the call was about)."""
    message = " ".join(str(message).split())
    if code in DENIED:
        return CloudError(_denied(service_prefix, operation, message, resource))
    if code in BAD_CREDENTIALS:
        return CloudError(
            f"AWS refused the credentials ({code}) on {iam_action(service_prefix, operation)}: "
            "check AWS_PROFILE / AWS_ACCESS_KEY_ID and that the session has not expired "
            "(aws sts get-caller-identity shows who you are)"
        )
    if code in THROTTLED:
        return CloudError(
            f"AWS kept throttling {iam_action(service_prefix, operation)} after the retries; "
            "run the command again in a minute"
        )
    said = f": {_cut(message)}" if message else ""
    return CloudError(
        f"AWS answered {code} to {iam_action(service_prefix, operation)} on {resource}{said}"
    )


def _denied(service_prefix: str, operation: str, message: str, resource: str) -> str:
    action, target, who = iam_action(service_prefix, operation), resource, ""
    found = NOT_AUTHORIZED.search(message)
    if found:
        action = found.group("action")
        target = found.group("resource") or resource
        who = f" to {found.group('who')}"
    explicit = ""
    if "explicit deny" in message.lower():
        explicit = " (an explicit deny: a service control policy, permissions boundary or Deny)"
    return (
        f"AWS denied {action} on {target}{who}{explicit}: allow {action} on that resource "
        f"to the identity running autostack aws setup (the permissions it needs are in the "
        f"{README_SECTION})"
    )


def _cut(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
