"""``autostack aws setup`` with the GitHub App configured, against the sandbox GitHub and
moto: the default branch comes from GitHub, and AUTOSTACK_AWS_ROLE_ARN is set through the
App's installation (``POST``/``PATCH /repos/{owner}/{repo}/actions/variables``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cloud import command
from bot.cloud.command import Arguments
from bot.settings import Settings
from sandbox.processes import autostack_argv
from tests.cloud.conftest import ACCOUNT, Moto, child_environment
from tests.sandbox.github.conftest import Sandbox, start

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/autostack-alice-shop"
VARIABLE = "/repos/alice/shop/actions/variables/AUTOSTACK_AWS_ROLE_ARN"


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[Sandbox]:
    state, server = start(tmp_path / "github")
    sandbox = Sandbox(state, server)
    sandbox.user("alice")
    sandbox.repo("alice", "shop", default_branch="trunk")
    sandbox.repo("alice", "blog")
    sandbox.install("alice", ["shop"])
    try:
        yield sandbox
    finally:
        sandbox.control.close()
        server.stop()
        state.close()


def app_settings(gh: Sandbox) -> dict[str, str]:
    return {
        "AUTOSTACK_GITHUB_API_URL": gh.url,
        "AUTOSTACK_GITHUB_URL": gh.url,
        "AUTOSTACK_GITHUB_APP_ID": str(gh.state.app_id),
        "AUTOSTACK_GITHUB_PRIVATE_KEY_FILE": str(gh.state.private_key_path),
    }


def setup(gh: Sandbox, **overrides: Any) -> tuple[int, list[str]]:
    values: dict[str, Any] = {"app": "shop", "repo": "alice/shop"}
    values.update(overrides)
    env = app_settings(gh)
    settings = Settings(
        github_api_url=env["AUTOSTACK_GITHUB_API_URL"],
        github_url=env["AUTOSTACK_GITHUB_URL"],
        github_app_id=int(env["AUTOSTACK_GITHUB_APP_ID"]),
        github_private_key_file=Path(env["AUTOSTACK_GITHUB_PRIVATE_KEY_FILE"]),
    )
    lines: list[str] = []
    code = command.run(Arguments(**values), settings, lines.append)
    return code, lines


def variable(gh: Sandbox) -> Any:
    installation = gh.state.installation_for(gh.state.repo("alice", "shop") or {})
    assert installation is not None
    api = gh.api(gh.token(int(installation["id"])))
    response = api.get(VARIABLE)
    return response.json()["value"] if response.status_code == 200 else response.status_code


def issuer(gh: Sandbox) -> str:
    return f"{httpx.URL(gh.url).host}/_services/token"


def test_the_variable_is_set_through_the_app_and_the_branch_read_from_github(
    moto: Moto, gh: Sandbox
) -> None:
    code, lines = setup(gh, repo="Alice/Shop")  # GitHub's spelling goes into the policy
    assert code == 0, lines
    assert (
        f"  ~ GitHub alice/shop: set the repository variable AUTOSTACK_AWS_ROLE_ARN={ROLE_ARN}"
        in lines
    )
    assert "Left to do by hand:" not in lines
    assert variable(gh) == ROLE_ARN
    iam: Any = moto.client("iam")
    trust = iam.get_role(RoleName="autostack-alice-shop")["Role"]["AssumeRolePolicyDocument"]
    # The sandbox is a GitHub Enterprise Server to the command: its own token issuer.
    assert trust["Statement"][0]["Condition"]["StringEquals"] == {
        f"{issuer(gh)}:aud": "sts.amazonaws.com",
        f"{issuer(gh)}:sub": "repo:alice/shop:ref:refs/heads/trunk",
    }
    assert "Nothing to change." in setup(gh)[1]


def test_a_variable_changed_by_hand_is_set_back(moto: Moto, gh: Sandbox) -> None:
    assert setup(gh)[0] == 0
    installation = gh.state.installation_for(gh.state.repo("alice", "shop") or {})
    assert installation is not None
    api = gh.api(gh.token(int(installation["id"])))
    body = {"name": "AUTOSTACK_AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/other"}
    assert api.patch(VARIABLE, json=body).status_code == 204
    code, lines = setup(gh)
    assert code == 0
    assert lines[lines.index("Plan: 1 change") + 1] == (
        f"  ~ GitHub alice/shop: update the repository variable AUTOSTACK_AWS_ROLE_ARN={ROLE_ARN}"
    )
    assert variable(gh) == ROLE_ARN


def test_a_repository_the_app_is_not_installed_on_gets_the_gh_command(
    moto: Moto, gh: Sandbox
) -> None:
    code, lines = setup(gh, app="blog", repo="alice/blog", branch="main")
    assert code == 0, lines
    host = httpx.URL(gh.url).host
    blog_arn = f"arn:aws:iam::{ACCOUNT}:role/autostack-alice-blog"
    assert lines[lines.index("Left to do by hand:") + 1 :][:2] == [
        f"  - set the repository variable AUTOSTACK_AWS_ROLE_ARN={blog_arn} on alice/blog (the "
        "GitHub App is not installed on alice/blog):",
        f"      gh variable set AUTOSTACK_AWS_ROLE_ARN --repo {host}/alice/blog --body {blog_arn}",
    ]


def test_the_command_line_uses_the_app_from_the_environment(moto: Moto, gh: Sandbox) -> None:
    env = child_environment(moto.url) | app_settings(gh)
    done = subprocess.run(
        autostack_argv("aws", "setup", "--app", "shop", "--repo", "alice/shop"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Applied 5 changes." in done.stdout
    assert variable(gh) == ROLE_ARN
    assert "-----BEGIN" not in done.stdout + done.stderr  # the App's key is never printed
