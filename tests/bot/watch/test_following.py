"""Following deployments against the sandbox Argo CD, to a verdict reported on GitHub."""

from __future__ import annotations

from tests.bot.watch.harness import APP_REPO, Bot, until_state


def test_a_healthy_deploy_is_reported_as_success_everywhere(bot: Bot) -> None:
    deployment = bot.deploy("prod", "v2")
    assert deployment.state == "syncing"
    watcher = bot.watcher()
    bot.run(watcher, until_state(bot, deployment, "succeeded", "failed", "timed_out"))
    done = bot.get(deployment)
    assert done.state == "succeeded", done.message
    status = bot.status("prod")
    assert status["status"]["sync"]["revision"] == done.gitops_sha
    assert status["status"]["summary"]["images"] == ["ghcr.io/acme/shop:v2"]
    github_deployment = bot.github.deployments[done.github_deployment_id]
    states = [s["state"] for s in github_deployment.statuses]
    assert states == ["in_progress", "success"]
    assert github_deployment.statuses[-1]["environment_url"] == "https://shop.example.com"
    check = bot.github.check_runs[done.check_run_id]
    assert (check.status, check.conclusion) == ("completed", "success")
    comment = bot.github.comment(APP_REPO, 7, done.delivery_id)
    assert comment is not None
    assert "deployed" in comment.body and "Healthy" in comment.body
