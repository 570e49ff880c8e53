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


def test_a_bad_image_fails_with_the_pods_log_and_is_rolled_back(bot: Bot) -> None:
    good = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    bot.run(watcher, until_state(bot, good, "succeeded"))
    bot.control(
        "bad-images",
        {"image": "ghcr.io/acme/shop:bad*", "logLines": ["boom: DATABASE_PASSWORD=hunter2hunter2"]},
    )
    bad = bot.deploy("prod", "bad3", issue=8)
    bot.run(watcher, until_state(bot, bad, "failed", "succeeded", "timed_out"))
    failed = bot.get(bad)
    assert failed.state == "failed", failed.message
    assert "Degraded" in (failed.message or "")
    comment = bot.github.comment(APP_REPO, 8, failed.delivery_id)
    assert comment is not None
    body = comment.body
    assert "failed" in body
    assert "CrashLoopBackOff" in body or "BackOff" in body
    assert "boom: DATABASE_PASSWORD=[redacted]" in body
    assert "hunter2" not in body
    assert "is rolling it back to" in body and "ghcr.io/acme/shop:v2" in body
    statuses = bot.github.deployments[failed.github_deployment_id].statuses
    assert statuses[-1]["state"] == "failure"

    rollbacks = bot.records.find(states={"syncing", "succeeded", "failed"}, kind="rollback")
    assert [r.delivery_id for r in rollbacks] == [f"auto-rollback-{failed.id}"]
    rollback = rollbacks[0]
    assert rollback.requested_by == "autostack" and rollback.issue_number == 8
    assert rollback.details["revert"] == [failed.gitops_sha]
    bot.run(watcher, until_state(bot, rollback, "succeeded", "failed", "timed_out"))
    assert bot.get(rollback).state == "succeeded", bot.get(rollback).message
    assert bot.status("prod")["status"]["summary"]["images"] == ["ghcr.io/acme/shop:v2"]
    assert bot.records.held("shop", "prod") == f"rolled back by {rollback.label}"
    rollback_comment = bot.github.comment(APP_REPO, 8, rollback.delivery_id)
    assert rollback_comment is not None and "deployed" in rollback_comment.body


def test_health_judged_before_the_sync_finished_is_not_counted(bot: Bot) -> None:
    # Rollouts finish at once, so Argo CD shows Synced and Healthy right after the sync;
    # but while it does not reconcile again, that health predates the new version.
    bot.control("progressing", {"seconds": 0})
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    bot.tick(watcher)
    bot.settle()
    bot.control("stale-status", {"enabled": True})
    for _ in range(20):
        bot.advance(1)
        bot.tick(watcher)
    status = bot.status("prod")["status"]
    assert (status["sync"]["status"], status["health"]["status"]) == ("Synced", "Healthy")
    assert status["operationState"]["syncResult"]["revision"] == deployment.gitops_sha
    assert bot.get(deployment).state == "syncing"
    bot.control("stale-status", {"enabled": False})
    bot.run(watcher, until_state(bot, deployment, "succeeded", "failed", "timed_out"))
    assert bot.get(deployment).state == "succeeded"


def test_someone_elses_newer_commit_supersedes_the_deployment(bot: Bot) -> None:
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    bot.tick(watcher)
    newer = bot.person_sets_tag("prod", "v9")
    bot.argo.poll_now()
    bot.run(watcher, until_state(bot, deployment, "superseded", "succeeded", "failed"))
    done = bot.get(deployment)
    assert done.state == "superseded"
    assert newer[:7] in (done.message or "")
    statuses = bot.github.deployments[done.github_deployment_id].statuses
    assert statuses[-1]["state"] == "inactive"
    assert bot.github.check_runs[done.check_run_id].conclusion == "neutral"


def test_a_deployment_argo_cd_never_picks_up_times_out(bot: Bot) -> None:
    bot.control("stale-status", {"enabled": True})
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    passes = bot.run(
        watcher, until_state(bot, deployment, "timed_out", "succeeded", "failed"), step=60
    )
    done = bot.get(deployment)
    assert done.state == "timed_out"
    assert passes == 11  # the default timeout is 10 minutes
    assert "waiting for Argo CD to pick up" in (done.message or "")
    assert bot.github.deployments[done.github_deployment_id].statuses[-1]["state"] == "error"


def test_a_later_landing_of_the_same_app_and_environment_supersedes(bot: Bot) -> None:
    watcher = bot.watcher()
    earlier = bot.deploy("prod", "v2")
    bot.run(watcher, until_state(bot, earlier, "succeeded"))  # landed and done before
    first = bot.deploy("prod", "v3", issue=8)
    dev = bot.deploy("dev", "v3", issue=9)
    # The lock expired, say: the next deployment to prod lands while the first syncs.
    bot.ctx.locks.release(first.lock_key, first.label, now=bot.clock.now())
    bot.advance(1)
    second = bot.deploy("prod", "v4", issue=10)
    assert {bot.get(d).state for d in (first, dev, second)} == {"syncing"}
    bot.tick(watcher)
    done = bot.get(first)
    assert done.state == "superseded"
    assert (bot.get(second).gitops_sha or "")[:7] in (done.message or "")
    assert bot.get(second).state == "syncing"  # the newest is the one it followed
    assert bot.get(dev).state == "syncing"  # another environment's landings do not count
    bot.run(watcher, until_state(bot, second, "succeeded", "failed", "timed_out"))
    assert bot.get(second).state == "succeeded"
