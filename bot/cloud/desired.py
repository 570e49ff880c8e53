"""What ``autostack aws setup`` wants to exist in one AWS account and region, as values.

Built from the apps (name and source repository), each repository's default branch, the
options of the command and the account the credentials belong to; no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.cloud import policies
from generators.workflow import ECR_HOST

GITHUB_COM_ISSUER = "token.actions.githubusercontent.com"
ROLE_VARIABLE = "AUTOSTACK_AWS_ROLE_ARN"
ROLE_POLICY_NAME = "autostack-ecr-push"
ROLE_PREFIX = "autostack-"
MAX_ROLE_NAME = 64
DEFAULT_PREFIX = "autostack"
DEFAULT_KEEP_TAGGED = 100
DEFAULT_UNTAGGED_DAYS = 7
MANAGED_TAG = {"Key": "managed-by", "Value": "autostack"}

REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}\Z")
# Amazon ECR's repository name pattern (CreateRepository), 2 to 256 characters.
ECR_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*\Z")
# A git branch name as a ``sub`` claim can carry it: no wildcards IAM would not treat as
# literal anyway, no spaces, nothing git itself refuses.
BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)[^\s~^:?*\[\\]+(?<![/.])\Z")
KMS_KEY = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/)?[A-Za-z0-9-]{1,128}\Z")


class SetupInputError(ValueError):
    """An option or input ``autostack aws setup`` cannot work with; the message says which."""


@dataclass(frozen=True)
class AppTarget:
    """An app and the GitHub repository that builds its image."""

    app: str
    source_repo: str  # OWNER/NAME
    image: str | None = None  # the image repository its overlays deploy, when known

    @property
    def ecr_image(self) -> tuple[str, str] | None:
        """(registry host, repository name) when the overlays deploy from ECR."""
        if self.image is None:
            return None
        host, _, path = self.image.partition("/")
        return (host, path) if ECR_HOST.match(host) and path else None


@dataclass(frozen=True)
class Encryption:
    kind: Literal["AES256", "KMS"] = "AES256"
    kms_key: str | None = None  # None with KMS: the AWS managed key aws/ecr

    def describe(self) -> str:
        if self.kind == "AES256":
            return "AES256"
        return f"KMS ({self.kms_key or 'AWS managed key aws/ecr'})"

    def matches(self, kind: str, kms_key: str | None) -> bool:
        if kind != self.kind:
            return False
        if self.kind == "AES256" or self.kms_key is None:
            return True
        # ECR reports the key's ARN; the option may name the key by its id.
        return kms_key == self.kms_key or (kms_key or "").endswith("/" + self.kms_key)


@dataclass(frozen=True)
class Options:
    prefix: str = DEFAULT_PREFIX
    keep_tagged: int = DEFAULT_KEEP_TAGGED
    untagged_days: int = DEFAULT_UNTAGGED_DAYS
    encryption: Encryption = field(default_factory=Encryption)
    github_url: str = "https://github.com"


@dataclass(frozen=True)
class Account:
    """Where the credentials point: from STS ``GetCallerIdentity`` and the session's region."""

    id: str
    region: str
    partition: str = "aws"

    @property
    def registry(self) -> str:
        suffix = ".amazonaws.com.cn" if self.partition == "aws-cn" else ".amazonaws.com"
        return f"{self.id}.dkr.ecr.{self.region}{suffix}"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.id}:{resource}"


@dataclass(frozen=True)
class DesiredRepository:
    name: str
    arn: str
    uri: str
    encryption: Encryption
    lifecycle_policy: dict[str, Any]


@dataclass(frozen=True)
class DesiredProvider:
    url: str  # https://ISSUER, as IAM wants it
    issuer: str  # the URL without its scheme: the prefix of the condition keys
    arn: str
    audience: str = policies.AUDIENCE


@dataclass(frozen=True)
class DesiredRole:
    name: str
    arn: str
    source_repo: str
    branch: str
    repositories: tuple[str, ...]
    trust_policy: dict[str, Any]
    push_policy: dict[str, Any]


@dataclass(frozen=True)
class Desired:
    account: Account
    provider: DesiredProvider
    repositories: tuple[DesiredRepository, ...]
    roles: tuple[DesiredRole, ...]


def oidc_issuer(github_url: str) -> str:
    """GitHub Actions' token issuer for a GitHub web URL (``AUTOSTACK_GITHUB_URL``)."""
    parts = urlsplit(github_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise SetupInputError(f"AUTOSTACK_GITHUB_URL {github_url!r} is not an http(s) URL")
    if host in ("github.com", "www.github.com"):
        return GITHUB_COM_ISSUER
    if host.endswith(".ghe.com"):  # GitHub Enterprise Cloud with data residency
        return f"token.actions.{host.removesuffix('.ghe.com')}.ghe.com"
    return f"{host}/_services/token"  # GitHub Enterprise Server


def role_name(source_repo: str) -> str:
    """``autostack-OWNER-NAME``, shortened with a hash when IAM's 64 characters are too few."""
    name = ROLE_PREFIX + source_repo.replace("/", "-")
    if len(name) <= MAX_ROLE_NAME:
        return name
    digest = hashlib.sha256(source_repo.lower().encode()).hexdigest()[:8]
    return f"{name[: MAX_ROLE_NAME - 9]}-{digest}"


def repository_name(target: AppTarget, prefix: str) -> str:
    """The repository the overlays already name, else ``<prefix>/<app>``."""
    ecr = target.ecr_image
    if ecr is not None:
        return ecr[1]
    return f"{prefix}/{target.app}" if prefix else target.app


def validate(targets: Sequence[AppTarget], options: Options) -> None:
    """Refuse what AWS or GitHub would refuse, before anything is asked of either."""
    if not targets:
        raise SetupInputError("no apps to set up")
    if options.prefix and not ECR_NAME.match(options.prefix):
        raise SetupInputError(
            f"--prefix {options.prefix!r} is not an ECR repository name prefix "
            "(lower-case letters, digits, '.', '_', '-' and '/')"
        )
    if options.keep_tagged < 1:
        raise SetupInputError("--keep-tagged must be at least 1")
    if options.untagged_days < 1:
        raise SetupInputError("--untagged-days must be at least 1")
    key = options.encryption.kms_key
    if key is not None and (key.startswith("alias/") or not KMS_KEY.match(key)):
        raise SetupInputError(
            f"--kms-key {key!r} is not a KMS key id or key ARN (ECR reports the key, not an "
            "alias, so an alias could not be checked on the next run)"
        )
    for target in targets:
        if not REPO.match(target.source_repo):
            raise SetupInputError(f"{target.source_repo!r} is not a GitHub OWNER/NAME")
        name = repository_name(target, options.prefix)
        if not (2 <= len(name) <= 256 and ECR_NAME.match(name)):
            raise SetupInputError(f"{name!r} is not a valid ECR repository name")


def desired_state(
    targets: Sequence[AppTarget],
    branches: Mapping[str, str],
    options: Options,
    account: Account,
) -> Desired:
    """Everything to exist for ``targets``; ``branches`` maps each source repo to its
    default branch."""
    validate(targets, options)
    issuer = oidc_issuer(options.github_url)
    provider_arn = account.arn("iam", f"oidc-provider/{issuer}", regional=False)
    provider = DesiredProvider(url=f"https://{issuer}", issuer=issuer, arn=provider_arn)
    lifecycle = policies.lifecycle_policy(options.keep_tagged, options.untagged_days)
    repositories: dict[str, DesiredRepository] = {}
    per_source: dict[str, list[str]] = {}
    for target in targets:
        name = repository_name(target, options.prefix)
        repositories[name] = DesiredRepository(
            name=name,
            arn=account.arn("ecr", f"repository/{name}"),
            uri=f"{account.registry}/{name}",
            encryption=options.encryption,
            lifecycle_policy=lifecycle,
        )
        per_source.setdefault(target.source_repo, []).append(name)
    roles = []
    for source, names in sorted(per_source.items(), key=lambda item: item[0].lower()):
        branch = branches[source]
        if not BRANCH.match(branch):
            raise SetupInputError(f"{branch!r} is not a branch name (default branch of {source})")
        name = role_name(source)
        arns = [repositories[n].arn for n in sorted(set(names))]
        roles.append(
            DesiredRole(
                name=name,
                arn=account.arn("iam", f"role/{name}", regional=False),
                source_repo=source,
                branch=branch,
                repositories=tuple(sorted(set(names))),
                trust_policy=policies.trust_policy(provider_arn, issuer, source, branch),
                push_policy=policies.push_policy(arns),
            )
        )
    return Desired(
        account=account,
        provider=provider,
        repositories=tuple(repositories[n] for n in sorted(repositories)),
        roles=tuple(roles),
    )
