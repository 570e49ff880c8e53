"""The pure part of ``autostack aws setup``: names, issuers, policy comparison, the planner
and the explanation of AWS's errors. No AWS, no network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.cloud import aws_calls, policies
from bot.cloud.desired import (
    Account,
    AppTarget,
    Encryption,
    Options,
    SetupInputError,
    desired_state,
    oidc_issuer,
    role_name,
)
from bot.cloud.explain import explain
from bot.cloud.plan import (
    AddOidcAudience,
    CreateOidcProvider,
    CreateRepository,
    CreateRole,
    Observed,
    ObservedProvider,
    ObservedRepository,
    ObservedRole,
    PutRolePolicy,
    SetRepoVariable,
    make_plan,
)

ACCOUNT = Account("111122223333", "eu-west-1")
SHOP = AppTarget("shop", "acme/shop")


def desired(*targets: AppTarget, branch: str = "main", **options: Any) -> Any:
    chosen = targets or (SHOP,)
    branches = {t.source_repo: branch for t in chosen}
    return desired_state(chosen, branches, Options(**options), ACCOUNT)


def settled(wanted: Any, **variables: str | None) -> Observed:
    """What AWS holds after a complete run for ``wanted``."""
    repos = {
        r.name: ObservedRepository(
            r.name, r.arn, r.uri, True, "IMMUTABLE", "AES256", None, r.lifecycle_policy
        )
        for r in wanted.repositories
    }
    roles = {
        r.name: ObservedRole(r.name, r.arn, r.trust_policy, r.push_policy) for r in wanted.roles
    }
    provider = ObservedProvider(wanted.provider.arn, ("sts.amazonaws.com",))
    return Observed(
        repos, provider, roles, variables={k.replace("__", "/"): v for k, v in variables.items()}
    )


@pytest.mark.parametrize(
    ("url", "issuer"),
    [
        ("https://github.com", "token.actions.githubusercontent.com"),
        ("https://github.com/", "token.actions.githubusercontent.com"),
        ("https://ghes.example.com", "ghes.example.com/_services/token"),
        ("https://GHES.example.com:8443/", "ghes.example.com/_services/token"),
        ("https://octo.ghe.com", "token.actions.octo.ghe.com"),
    ],
)
def test_the_oidc_issuer_follows_the_github_url(url: str, issuer: str) -> None:
    assert oidc_issuer(url) == issuer


def test_github_enterprise_server_gets_its_own_provider_and_condition_keys() -> None:
    wanted = desired(github_url="https://ghes.example.com")
    assert wanted.provider.url == "https://ghes.example.com/_services/token"
    assert wanted.provider.arn == (
        "arn:aws:iam::111122223333:oidc-provider/ghes.example.com/_services/token"
    )
    condition = wanted.roles[0].trust_policy["Statement"][0]["Condition"]["StringEquals"]
    assert condition == {
        "ghes.example.com/_services/token:aud": "sts.amazonaws.com",
        "ghes.example.com/_services/token:sub": "repo:acme/shop:ref:refs/heads/main",
    }


def test_role_names_fit_iam_and_stay_distinct() -> None:
    assert role_name("acme/shop") == "autostack-acme-shop"
    long_a, long_b = role_name("acme/" + "a" * 90), role_name("acme/" + "a" * 89 + "b")
    assert len(long_a) == len(long_b) == 64 and long_a != long_b


def test_one_role_per_source_repository_pushes_to_all_its_apps() -> None:
    wanted = desired(AppTarget("web", "acme/mono"), AppTarget("worker", "acme/mono"))
    assert [r.name for r in wanted.roles] == ["autostack-acme-mono"]
    resources = wanted.roles[0].push_policy["Statement"][0]["Resource"]
    assert resources == [
        "arn:aws:ecr:eu-west-1:111122223333:repository/autostack/web",
        "arn:aws:ecr:eu-west-1:111122223333:repository/autostack/worker",
    ]


def test_an_ecr_image_in_the_overlays_names_the_repository() -> None:
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/shop"
    wanted = desired(AppTarget("shop", "acme/shop", image=image))
    assert [r.name for r in wanted.repositories] == ["team/shop"]
    assert wanted.repositories[0].uri == image


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prefix": "Bad Prefix"}, "--prefix"),
        ({"keep_tagged": 0}, "--keep-tagged"),
        ({"untagged_days": 0}, "--untagged-days"),
        ({"encryption": Encryption("KMS", "alias/mine")}, "--kms-key"),
    ],
)
def test_bad_options_are_refused_before_anything_is_asked(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SetupInputError, match=message):
        desired(**options)


@pytest.mark.parametrize("repo", ["acme", "acme/shop/x", "-acme/shop", "acme/sh op"])
def test_a_repository_that_is_not_owner_name_is_refused(repo: str) -> None:
    with pytest.raises(SetupInputError, match="OWNER/NAME"):
        desired(AppTarget("shop", repo))


@pytest.mark.parametrize("branch", ["feat/*", "a..b", "x y", "/main", "main/"])
def test_a_branch_that_git_refuses_is_refused(branch: str) -> None:
    with pytest.raises(SetupInputError, match="branch"):
        desired(branch=branch)


def test_policies_compare_by_meaning_not_by_formatting() -> None:
    wanted = desired().roles[0].push_policy
    shuffled = json.loads(json.dumps(wanted))
    shuffled["Statement"].reverse()
    shuffled["Statement"][1]["Action"].reverse()
    shuffled["Statement"][0]["Action"] = ["ecr:GetAuthorizationToken"]
    shuffled["Statement"][0]["Sid"] = "Renamed"
    assert policies.same_policy(shuffled, wanted)
    wider = json.loads(json.dumps(wanted))
    wider["Statement"][0]["Resource"] = "*"
    assert not policies.same_policy(wider, wanted)
    assert not policies.same_policy(None, wanted)


def test_lifecycle_policies_compare_without_descriptions() -> None:
    wanted = policies.lifecycle_policy(100, 7)
    relabelled = json.loads(json.dumps(wanted))
    relabelled["rules"][0]["description"] = "other words"
    assert policies.same_lifecycle(relabelled, wanted)
    assert not policies.same_lifecycle(policies.lifecycle_policy(50, 7), wanted)


def test_an_empty_account_gets_everything_in_dependency_order() -> None:
    wanted = desired()
    plan = make_plan(wanted, Observed({}, None, {}, variables={"acme/shop": None}))
    assert [type(c) for c in plan.changes] == [
        CreateOidcProvider,
        CreateRepository,
        CreateRole,
        PutRolePolicy,
        SetRepoVariable,
    ]
    variable = plan.changes[-1]
    assert isinstance(variable, SetRepoVariable)
    assert (variable.repo, variable.name, variable.value, variable.exists) == (
        "acme/shop",
        "AUTOSTACK_AWS_ROLE_ARN",
        "arn:aws:iam::111122223333:role/autostack-acme-shop",
        False,
    )


def test_a_settled_account_has_nothing_to_change() -> None:
    wanted = desired()
    role = "arn:aws:iam::111122223333:role/autostack-acme-shop"
    plan = make_plan(wanted, settled(wanted, acme__shop=role))
    assert plan.empty and not plan.problems and not plan.manual


def test_a_stale_variable_is_updated_and_a_provider_without_the_audience_fixed() -> None:
    wanted = desired()
    observed = settled(wanted, acme__shop="arn:aws:iam::111122223333:role/old")
    observed = Observed(
        observed.repositories,
        ObservedProvider(wanted.provider.arn, ("sigstore",)),
        observed.roles,
        variables=observed.variables,
    )
    plan = make_plan(wanted, observed)
    assert [type(c) for c in plan.changes] == [AddOidcAudience, SetRepoVariable]
    assert plan.changes[1].description == (
        "GitHub acme/shop: update the repository variable AUTOSTACK_AWS_ROLE_ARN="
        "arn:aws:iam::111122223333:role/autostack-acme-shop"
    )


def test_without_github_the_variable_is_a_manual_step_with_the_gh_command() -> None:
    wanted = desired()
    observed = settled(wanted)
    observed = Observed(observed.repositories, observed.provider, observed.roles)
    plan = make_plan(wanted, observed, github_host="ghes.example.com")
    assert plan.empty
    assert [step.command for step in plan.manual] == [
        "gh variable set AUTOSTACK_AWS_ROLE_ARN --repo ghes.example.com/acme/shop "
        "--body arn:aws:iam::111122223333:role/autostack-acme-shop"
    ]


def test_each_change_is_sent_as_the_documented_aws_calls() -> None:
    wanted = desired()
    plan = make_plan(wanted, Observed({}, None, {}))
    sent = [
        (c.service, c.operation, c.resource) for ch in plan.changes for c in aws_calls.calls(ch)
    ]
    assert sent == [
        ("iam", "CreateOpenIDConnectProvider", "https://token.actions.githubusercontent.com"),
        ("ecr", "CreateRepository", "autostack/shop"),
        ("ecr", "PutLifecyclePolicy", "autostack/shop"),
        ("iam", "CreateRole", "autostack-acme-shop"),
        ("iam", "PutRolePolicy", "autostack-acme-shop"),
    ]
    with pytest.raises(TypeError):
        aws_calls.calls(SetRepoVariable("acme/shop", "X", "y", exists=False))


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            "AccessDeniedException",
            "User: arn:aws:sts::1:assumed-role/dev/me is not authorized to perform: "
            "ecr:TagResource on resource: arn:aws:ecr:eu-west-1:1:repository/a/b with an "
            "explicit deny in a service control policy",
            "AWS denied ecr:TagResource on arn:aws:ecr:eu-west-1:1:repository/a/b to "
            "arn:aws:sts::1:assumed-role/dev/me (an explicit deny: a service control policy, "
            "permissions boundary or Deny): allow ecr:TagResource",
        ),
        (
            "AccessDenied",
            "User: arn:aws:iam::1:user/ci is not authorized to perform: iam:CreateRole on "
            "resource: arn:aws:iam::1:role/autostack-acme-shop",
            "AWS denied iam:CreateRole on arn:aws:iam::1:role/autostack-acme-shop to "
            "arn:aws:iam::1:user/ci: allow iam:CreateRole",
        ),
        ("AccessDenied", "", "AWS denied ecr:CreateRepository on a/b: allow"),
        ("ExpiredToken", "expired", "AWS refused the credentials (ExpiredToken)"),
        ("LimitExceeded", "too\nmany\nroles", "AWS answered LimitExceeded to ecr:"),
    ],
)
def test_aws_errors_are_explained_in_one_line(code: str, message: str, expected: str) -> None:
    text = str(explain("ecr", "CreateRepository", code, message, "a/b"))
    assert text.startswith(expected)
    assert "\n" not in text
