"""Desired state and observed state in, the changes that make them agree out.

Every change is a small frozen value with a one-line description; the adapters apply them.
What cannot be changed in place (a repository's encryption) or should not be changed
without a person deciding (permissions someone else added to the role) is a ``Problem``
with what to do about it. An empty plan means nothing to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.cloud import policies
from bot.cloud.desired import (
    MANAGED_TAG,
    ROLE_POLICY_NAME,
    ROLE_VARIABLE,
    Desired,
    DesiredRepository,
    DesiredRole,
    Encryption,
)

# --- what the adapters saw -------------------------------------------------------------


@dataclass(frozen=True)
class ObservedRepository:
    name: str
    arn: str
    uri: str
    scan_on_push: bool
    tag_mutability: str  # MUTABLE, IMMUTABLE, ...
    encryption_type: str  # AES256, KMS, KMS_DSSE
    kms_key: str | None
    lifecycle_policy: Any  # parsed JSON; None when the repository has none


@dataclass(frozen=True)
class ObservedProvider:
    arn: str
    client_ids: tuple[str, ...]


@dataclass(frozen=True)
class ObservedRole:
    name: str
    arn: str
    trust_policy: Any
    push_policy: Any  # the inline policy ROLE_POLICY_NAME; None when missing
    other_inline_policies: tuple[str, ...] = ()
    attached_policies: tuple[str, ...] = ()  # managed policy ARNs


@dataclass(frozen=True)
class Observed:
    repositories: Mapping[str, ObservedRepository | None]
    provider: ObservedProvider | None
    roles: Mapping[str, ObservedRole | None]
    # The repository variable's value per source repo (None: not set). A repo missing here
    # could not be asked (no App, or not installed there); ``unasked`` says why.
    variables: Mapping[str, str | None] = field(default_factory=dict)
    unasked: Mapping[str, str] = field(default_factory=dict)


# --- changes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRepository:
    name: str
    encryption: Encryption
    lifecycle_policy: dict[str, Any]
    target = "aws"

    @property
    def description(self) -> str:
        return (
            f"create ECR repository {self.name} (scan on push, immutable tags, "
            f"{self.encryption.describe()} encryption, lifecycle policy)"
        )


@dataclass(frozen=True)
class EnableScanOnPush:
    name: str
    target = "aws"

    @property
    def description(self) -> str:
        return f"ECR repository {self.name}: turn scan on push on (it is off)"


@dataclass(frozen=True)
class MakeTagsImmutable:
    name: str
    current: str
    target = "aws"

    @property
    def description(self) -> str:
        return f"ECR repository {self.name}: make tags immutable (they are {self.current})"


@dataclass(frozen=True)
class PutLifecyclePolicy:
    name: str
    policy: dict[str, Any]
    drifted: bool
    target = "aws"

    @property
    def description(self) -> str:
        state = "differs from the wanted one" if self.drifted else "is missing"
        return f"ECR repository {self.name}: set the lifecycle policy (it {state})"


@dataclass(frozen=True)
class CreateOidcProvider:
    url: str
    audience: str
    target = "aws"

    @property
    def description(self) -> str:
        return f"create the IAM OIDC identity provider {self.url} (audience {self.audience})"


@dataclass(frozen=True)
class AddOidcAudience:
    arn: str
    audience: str
    target = "aws"

    @property
    def description(self) -> str:
        return f"IAM OIDC identity provider {self.arn}: add the audience {self.audience}"


@dataclass(frozen=True)
class CreateRole:
    name: str
    source_repo: str
    branch: str
    trust_policy: dict[str, Any]
    target = "aws"
    tags: tuple[dict[str, str], ...] = field(default=(MANAGED_TAG,))

    @property
    def description(self) -> str:
        return (
            f"create IAM role {self.name}, assumable only by GitHub Actions runs of "
            f"{self.source_repo} on branch {self.branch}"
        )


@dataclass(frozen=True)
class UpdateTrustPolicy:
    name: str
    source_repo: str
    branch: str
    policy: dict[str, Any]
    target = "aws"

    @property
    def description(self) -> str:
        return (
            f"IAM role {self.name}: reset the trust policy (it differs from: only "
            f"{self.source_repo} on branch {self.branch})"
        )


@dataclass(frozen=True)
class PutRolePolicy:
    role: str
    policy_name: str
    policy: dict[str, Any]
    repositories: tuple[str, ...]
    drifted: bool
    target = "aws"

    @property
    def description(self) -> str:
        state = "differs from the wanted one" if self.drifted else "is missing"
        where = ", ".join(self.repositories)
        return (
            f"IAM role {self.role}: set inline policy {self.policy_name}, push to {where} "
            f"only (it {state})"
        )


@dataclass(frozen=True)
class SetRepoVariable:
    repo: str
    name: str
    value: str
    exists: bool
    target = "github"

    @property
    def description(self) -> str:
        verb = "update" if self.exists else "set"
        return f"GitHub {self.repo}: {verb} the repository variable {self.name}={self.value}"


Change = (
    CreateRepository
    | EnableScanOnPush
    | MakeTagsImmutable
    | PutLifecyclePolicy
    | CreateOidcProvider
    | AddOidcAudience
    | CreateRole
    | UpdateTrustPolicy
    | PutRolePolicy
    | SetRepoVariable
)


@dataclass(frozen=True)
class Problem:
    """Something the command will not change; ``fix`` tells a person what to do."""

    subject: str
    message: str
    fix: str

    @property
    def description(self) -> str:
        return f"{self.subject}: {self.message}. {self.fix}"


@dataclass(frozen=True)
class ManualStep:
    """What the user has to do by hand (the App cannot set the variable)."""

    description: str
    command: str


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    problems: tuple[Problem, ...] = ()
    manual: tuple[ManualStep, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes


# --- deciding --------------------------------------------------------------------------


def make_plan(desired: Desired, observed: Observed, *, github_host: str = "") -> Plan:
    """The changes that bring ``observed`` to ``desired``, in the order to apply them: the
    identity provider before the roles that trust it, the roles before the variable that
    names them."""
    changes: list[Change] = []
    problems: list[Problem] = []
    changes += _provider_changes(desired, observed.provider)
    for repo in desired.repositories:
        found = observed.repositories.get(repo.name)
        changes += _repository_changes(repo, found)
        if found is not None and not repo.encryption.matches(found.encryption_type, found.kms_key):
            problems.append(_encryption_problem(repo, found))
    for role in desired.roles:
        found_role = observed.roles.get(role.name)
        changes += _role_changes(role, found_role)
        if found_role is not None:
            problems += _extra_permissions(found_role)
    variable_changes, manual = _variable_changes(desired, observed, github_host)
    return Plan(tuple(changes + variable_changes), tuple(problems), tuple(manual))


def role_arn(role: DesiredRole, observed: Observed) -> str:
    found = observed.roles.get(role.name)
    return found.arn if found is not None else role.arn


def _provider_changes(desired: Desired, found: ObservedProvider | None) -> list[Change]:
    provider = desired.provider
    if found is None:
        return [CreateOidcProvider(provider.url, provider.audience)]
    if provider.audience not in found.client_ids:
        return [AddOidcAudience(found.arn, provider.audience)]
    return []


def _repository_changes(repo: DesiredRepository, found: ObservedRepository | None) -> list[Change]:
    if found is None:
        return [CreateRepository(repo.name, repo.encryption, repo.lifecycle_policy)]
    changes: list[Change] = []
    if not found.scan_on_push:
        changes.append(EnableScanOnPush(repo.name))
    if found.tag_mutability != "IMMUTABLE":
        changes.append(MakeTagsImmutable(repo.name, found.tag_mutability.lower()))
    if not policies.same_lifecycle(found.lifecycle_policy, repo.lifecycle_policy):
        drifted = found.lifecycle_policy is not None
        changes.append(PutLifecyclePolicy(repo.name, repo.lifecycle_policy, drifted))
    return changes


def _encryption_problem(repo: DesiredRepository, found: ObservedRepository) -> Problem:
    current = found.encryption_type + (f" ({found.kms_key})" if found.kms_key else "")
    return Problem(
        subject=f"ECR repository {repo.name}",
        message=(
            f"it is encrypted with {current}, not {repo.encryption.describe()}, and ECR "
            "cannot change a repository's encryption after it was created"
        ),
        fix=(
            "Keep it by passing the matching --encryption/--kms-key, or delete the "
            "repository (its images go with it: copy those you need) and run this again"
        ),
    )


def _role_changes(role: DesiredRole, found: ObservedRole | None) -> list[Change]:
    push = PutRolePolicy(role.name, ROLE_POLICY_NAME, role.push_policy, role.repositories, False)
    if found is None:
        created = CreateRole(role.name, role.source_repo, role.branch, role.trust_policy)
        return [created, push]
    changes: list[Change] = []
    if not policies.same_policy(found.trust_policy, role.trust_policy):
        changes.append(
            UpdateTrustPolicy(role.name, role.source_repo, role.branch, role.trust_policy)
        )
    if not policies.same_policy(found.push_policy, role.push_policy):
        drifted = found.push_policy is not None
        changes.append(
            PutRolePolicy(role.name, ROLE_POLICY_NAME, role.push_policy, role.repositories, drifted)
        )
    return changes


def _extra_permissions(found: ObservedRole) -> list[Problem]:
    extra = [f"inline policy {n}" for n in found.other_inline_policies]
    extra += [f"managed policy {arn}" for arn in found.attached_policies]
    if not extra:
        return []
    return [
        Problem(
            subject=f"IAM role {found.name}",
            message="it has permissions beyond pushing its images: " + ", ".join(extra),
            fix=(
                "Builds of the default branch can use them; remove them "
                f"(aws iam delete-role-policy / detach-role-policy --role-name {found.name}) "
                "unless someone added them on purpose"
            ),
        )
    ]


def _variable_changes(
    desired: Desired, observed: Observed, github_host: str
) -> tuple[list[Change], list[ManualStep]]:
    changes: list[Change] = []
    manual: list[ManualStep] = []
    for role in desired.roles:
        arn = role_arn(role, observed)
        if role.source_repo not in observed.variables:
            why = observed.unasked.get(role.source_repo, "the GitHub App is not configured")
            manual.append(_manual_variable(role.source_repo, arn, github_host, why))
            continue
        current = observed.variables[role.source_repo]
        if current != arn:
            changes.append(
                SetRepoVariable(role.source_repo, ROLE_VARIABLE, arn, exists=current is not None)
            )
    return changes, manual


def _manual_variable(repo: str, arn: str, github_host: str, why: str) -> ManualStep:
    where = f"{github_host}/{repo}" if github_host and github_host != "github.com" else repo
    return ManualStep(
        description=f"set the repository variable {ROLE_VARIABLE}={arn} on {repo} ({why})",
        command=f"gh variable set {ROLE_VARIABLE} --repo {where} --body {arn}",
    )
