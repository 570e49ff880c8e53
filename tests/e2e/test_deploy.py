"""End to end: signed webhooks from the sandbox GitHub drive the bot, which changes the
GitOps repository that the sandbox Argo CD syncs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sandbox.testbed import Testbed
from tests.e2e.lookout import gitops_history


def gitops_log(bed: Testbed, tmp_path: Path) -> list[dict[str, Any]]:
    """The GitOps repo's history, as a person would clone it."""
    return gitops_history(bed, tmp_path / "gitops-clone")


def comments(bed: Testbed, repo: str, number: int) -> list[str]:
    token = bed.users["mia"]
    response = httpx.get(
        f"{bed.github_url}/repos/{bed.org}/{repo}/issues/{number}/comments",
        headers={"Authorization": f"token {token}"},
    )
    response.raise_for_status()
    return [c["body"] for c in response.json()]


def overlay(bed: Testbed, env: str, tmp_path: Path) -> str:
    log = gitops_log(bed, tmp_path / env)
    assert log
    clone = tmp_path / env / "gitops-clone"
    return (clone / "apps" / "shop" / "overlays" / env / "kustomization.yaml").read_text()


def test_merge_to_deploy_commits_to_dev(testbed: Testbed, tmp_path: Path) -> None:
    sha = testbed.push("shop", {"VERSION": "2\n"}, "Bump version", user="mia")
    testbed.build("shop", sha, branch="main")
    testbed.settle()
    log = gitops_log(testbed, tmp_path)
    deploy = log[0]["trailers"]
    assert deploy["Autostack-App"] == ["shop"]
    assert deploy["Autostack-Env"] == ["dev"]
    assert deploy["Autostack-Source-Sha"] == [sha]
    assert deploy["Autostack-Image"] == [f"ghcr.io/acme/shop:{sha}"]
    text = (tmp_path / "gitops-clone/apps/shop/overlays/dev/kustomization.yaml").read_text()
    assert f"newTag: {sha}" in text
    # staging and prod are not auto-deployed
    assert all(entry["trailers"].get("Autostack-Env") != ["prod"] for entry in log)


def test_deploy_command_by_maintainer_opens_gitops_pr(testbed: Testbed, tmp_path: Path) -> None:
    sha = testbed.push("shop", {"feature.txt": "new\n"}, "Feature", branch="feature", user="dev")
    pr = testbed.open_pull("shop", "feature", "A feature", user="dev")
    testbed.build("shop", sha, branch="feature", event="pull_request")
    testbed.comment("shop", pr["number"], "/deploy staging", user="mia")
    testbed.settle()
    log = gitops_log(testbed, tmp_path)
    staging = [e for e in log if e["trailers"].get("Autostack-Env") == ["staging"]]
    assert staging, "staging is auto-merge: the deploy commit is on the default branch"
    assert staging[0]["trailers"]["Autostack-Requested-By"] == ["mia"]
    bodies = comments(testbed, "shop", pr["number"])
    assert any("/deploy staging" in body and "Requested by @mia" in body for body in bodies)
    # Both of GitHub's budgets the command spent are on show, each under its own name.
    metrics = httpx.get(f"{testbed.bot_url}/metrics").text
    for resource in ("core", "graphql"):
        assert f'autostack_github_rate_limit_remaining{{resource="{resource}"}}' in metrics


def test_read_only_user_is_refused(testbed: Testbed, tmp_path: Path) -> None:
    sha = testbed.push("shop", {"x.txt": "x\n"}, "x", branch="feature", user="dev")
    pr = testbed.open_pull("shop", "feature", "X", user="dev")
    testbed.build("shop", sha, branch="feature", event="pull_request")
    testbed.comment("shop", pr["number"], "/deploy dev", user="reader")
    testbed.settle()
    bodies = comments(testbed, "shop", pr["number"])
    refusal = [b for b in bodies if "refused" in b]
    assert refusal and "read" in refusal[0] and "write" in refusal[0], bodies
    log = gitops_log(testbed, tmp_path)
    assert not [e for e in log if e["trailers"].get("Autostack-Requested-By") == ["reader"]]


def test_deploy_waits_for_the_build_then_proceeds(testbed: Testbed, tmp_path: Path) -> None:
    sha = testbed.push("shop", {"slow.txt": "1\n"}, "Slow build", branch="slow", user="dev")
    pr = testbed.open_pull("shop", "slow", "Slow", user="dev")
    testbed.comment("shop", pr["number"], "/deploy staging", user="mia")
    testbed.settle()
    bodies = comments(testbed, "shop", pr["number"])
    assert any("Waiting for the build of" in b and sha[:7] in b for b in bodies), bodies
    assert not [
        e
        for e in gitops_log(testbed, tmp_path / "before")
        if e["trailers"].get("Autostack-Env") == ["staging"]
    ]
    testbed.build("shop", sha, branch="slow", event="pull_request")
    testbed.settle()
    staging = [
        e
        for e in gitops_log(testbed, tmp_path / "after")
        if e["trailers"].get("Autostack-Env") == ["staging"]
    ]
    assert staging and staging[0]["trailers"]["Autostack-Source-Sha"] == [sha]


def test_a_failed_build_is_reported_and_nothing_deployed(testbed: Testbed, tmp_path: Path) -> None:
    sha = testbed.push("shop", {"bad.txt": "1\n"}, "Broken", branch="broken", user="dev")
    pr = testbed.open_pull("shop", "broken", "Broken", user="dev")
    testbed.comment("shop", pr["number"], "/deploy staging", user="mia")
    testbed.settle()
    testbed.build("shop", sha, branch="broken", event="pull_request", conclusion="failure")
    testbed.settle()
    bodies = comments(testbed, "shop", pr["number"])
    assert any("failed" in b and sha[:7] in b for b in bodies), bodies
    log = gitops_log(testbed, tmp_path)
    assert not [e for e in log if e["trailers"].get("Autostack-Source-Sha") == [sha]]


def test_promote_deploys_the_image_running_in_the_source_env(
    testbed: Testbed, tmp_path: Path
) -> None:
    sha = testbed.push("shop", {"VERSION": "3\n"}, "Release", user="mia")
    testbed.build("shop", sha, branch="main")
    testbed.settle()
    issue = testbed.control(
        "POST", f"/repos/{testbed.org}/shop/issues", {"title": "Release 3", "user": "mia"}
    )
    testbed.comment("shop", issue["number"], "/promote dev staging", user="mia")
    testbed.settle()
    staging = [
        e
        for e in gitops_log(testbed, tmp_path)
        if e["trailers"].get("Autostack-Env") == ["staging"]
    ]
    assert staging, "the promotion landed on staging"
    assert staging[0]["trailers"]["Autostack-Image"] == [f"ghcr.io/acme/shop:{sha}"]
    assert staging[0]["trailers"]["Autostack-Requested-By"] == ["mia"]
