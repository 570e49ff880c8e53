"""Acceptance tests of the bot: whole scenarios on loopback against ``autostack serve`` run
as a child process, driven by the sandbox GitHub's signed webhooks, judged by what GitHub,
the GitOps repository and the bot's database show afterwards.

Covered elsewhere, not repeated here: install -> onboarding pull requests
(tests/bot/handlers/test_install.py, the end-to-end test at its bottom); merge -> build ->
dev deployed and a read-only user refused (tests/e2e/test_deploy.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testbed import Testbed
from tests.e2e.conftest import QUICK_WATCH, MakeTestbed
from tests.e2e.lookout import (
    Person,
    deploy_commits,
    deployments,
    feature_pull,
    gitops_history,
    stored_deliveries,
)

OVERLAY = "apps/shop/overlays/{}/kustomization.yaml"
# Retries within a test's time: the queue's backoff from 20 ms, capped at 200 ms, and enough
# attempts for deliveries that meet a failure on most tries.
FAST_RETRIES = {
    "delivery_retry_base_seconds": 0.02,
    "delivery_retry_cap_seconds": 0.2,
    "delivery_max_attempts": 100,
}


@pytest.fixture
def mia(testbed: Testbed) -> Iterator[Person]:
    """The app's maintainer, who also maintains the GitOps repository (merges its PRs)."""
    testbed.user("mia", repo=testbed.gitops_name, permission="maintain")
    person = Person(testbed, "mia")
    yield person
    person.close()


def test_deploy_prod_needs_approval_and_green_checks_then_opens_a_gitops_pr(
    testbed: Testbed, mia: Person, tmp_path: Path
) -> None:
    number, sha = feature_pull(testbed, "feature", {"feature.txt": "new\n"})

    testbed.comment("shop", number, "/deploy prod", user="mia")
    testbed.settle()
    [refusal] = mia.answers("shop", number)
    assert "refused" in refusal
    assert "not approved yet and prod requires approval" in refusal
    assert f"No checks have reported on `{sha[:7]}`" in refusal

    testbed.approve("shop", number, user="mia")
    mia.set_status("shop", sha, "pending")
    testbed.comment("shop", number, "/deploy prod", user="mia")
    testbed.settle()
    second = mia.answers("shop", number)[-1]
    assert "refused" in second and "approv" not in second
    assert "checks on" in second and "still running" in second
    assert mia.pulls("gitops", "open") == []

    mia.set_status("shop", sha, "success")
    testbed.comment("shop", number, "/deploy prod", user="mia")
    testbed.settle()
    [pull] = mia.pulls("gitops", "open")
    assert pull["head"]["ref"] == "autostack/shop-prod"
    [commit] = mia.pull_commits("gitops", pull["number"])
    delivery = commit["trailers"]["Autostack-Delivery"][0]
    assert commit["trailers"]["Autostack-App"] == ["shop"]
    assert commit["trailers"]["Autostack-Env"] == ["prod"]
    assert commit["trailers"]["Autostack-Image"] == [f"ghcr.io/acme/shop:{sha}"]
    assert commit["trailers"]["Autostack-Source-Repo"] == ["acme/shop"]
    assert commit["trailers"]["Autostack-Source-Sha"] == [sha]
    assert commit["trailers"]["Autostack-Requested-By"] == ["mia"]
    assert mia.pull_files("gitops", pull["number"]) == [OVERLAY.format("prod")]
    overlay = mia.file("gitops", OVERLAY.format("prod"), pull["head"]["sha"])
    assert re.search(rf"^\s+newTag: '?{sha}'?$", overlay, re.M), overlay

    # The answer is the comment of the delivery named in the trailer, and links the PR.
    answers = mia.command_comments("shop", number)
    assert pull["html_url"] in answers[delivery][0]
    assert len(answers) == 3 and all(len(bodies) == 1 for bodies in answers.values())
    # prod lands as a pull request: nothing on the default branch until someone merges it.
    assert deploy_commits(gitops_history(testbed, tmp_path / "clone"), env="prod") == []
    [deployment] = deployments(testbed, env="prod")
    assert (deployment.state, deployment.gitops_pr) == ("awaiting_merge", pull["number"])


def test_a_fork_pull_request_is_deployed_only_when_a_maintainer_asks(
    testbed: Testbed, mia: Person, tmp_path: Path
) -> None:
    testbed.user("outsider")
    testbed.control("POST", "/repos/acme/shop/forks", {"owner": "outsider"})
    pushed = testbed.control(
        "POST",
        "/repos/outsider/shop/push",
        {"files": {"fix.txt": "fix\n"}, "message": "Fix", "branch": "fix", "user": "outsider"},
    )
    sha = pushed["sha"]
    pull = testbed.control(
        "POST",
        "/repos/acme/shop/pulls",
        {"head": "fix", "head_owner": "outsider", "title": "Fix", "user": "outsider"},
    )
    number = int(pull["number"])
    assert pull["head"]["repo"]["full_name"] == "outsider/shop"
    testbed.build("shop", sha, branch="fix", event="pull_request")

    testbed.comment("shop", number, "/deploy dev", user="dev")
    testbed.settle()
    [refusal] = mia.answers("shop", number)
    assert "refused" in refusal and "comes from a fork" in refusal and "you have write" in refusal
    assert deployments(testbed) == []

    testbed.comment("shop", number, "/deploy dev", user="mia")
    testbed.settle()
    [deploy] = deploy_commits(gitops_history(testbed, tmp_path / "clone"), env="dev")
    assert deploy["trailers"]["Autostack-Source-Sha"] == [sha]
    assert deploy["trailers"]["Autostack-Requested-By"] == ["mia"]
    assert "refused" not in mia.answers("shop", number)[-1]


def test_a_delivery_redelivered_five_times_has_one_effect(
    testbed: Testbed, mia: Person, tmp_path: Path
) -> None:
    number, sha = feature_pull(testbed, "feature", {"feature.txt": "new\n"})
    comment = testbed.comment("shop", number, "/deploy dev", user="dev")
    [original] = [
        d
        for d in testbed.control("GET", "/webhooks/deliveries?event=issue_comment")
        if d["payload"]["comment"]["id"] == comment["id"]
    ]
    # Redelivered at once, so some copies arrive while the first is still being handled.
    for _ in range(5):
        testbed.control("POST", f"/webhooks/deliveries/{original['id']}/redeliver")
    testbed.settle()

    copies = [
        d
        for d in testbed.control("GET", "/webhooks/deliveries?event=issue_comment")
        if d["guid"] == original["guid"]
    ]
    assert len(copies) == 6
    # The bot acknowledged the first (202) and recognised every copy as already stored (200).
    assert sorted(d["status_code"] for d in copies) == [200] * 5 + [202]
    guid = original["guid"]
    history = gitops_history(testbed, tmp_path / "clone")
    [deploy] = deploy_commits(history, delivery=guid)
    assert deploy["trailers"]["Autostack-Source-Sha"] == [sha]
    assert list(mia.command_comments("shop", number)) == [guid]
    assert len(mia.command_comments("shop", number)[guid]) == 1
    assert [d.delivery_id for d in deployments(testbed)] == [guid]


def test_two_prod_deploys_at_once_one_runs_the_other_queues_behind_it(
    testbed: Testbed, mia: Person, tmp_path: Path
) -> None:
    first_pr, first_sha = feature_pull(testbed, "one", {"one.txt": "1\n"})
    second_pr, second_sha = feature_pull(testbed, "two", {"two.txt": "2\n"})
    for number, sha in ((first_pr, first_sha), (second_pr, second_sha)):
        testbed.approve("shop", number, user="mia")
        mia.set_status("shop", sha, "success")
    # Opening the GitOps pull request is slow, so whichever deployment takes the lock is
    # still committing when the other asks for it (one waiting for a merge would be
    # superseded instead: a newer deployment replaces one that nobody merged yet).
    testbed.control(
        "POST",
        "/faults",
        {"kind": "latency", "method": "POST", "route": "*/pulls", "latency_ms": 1500},
    )
    testbed.comment("shop", first_pr, "/deploy prod", user="mia")
    testbed.comment("shop", second_pr, "/deploy prod", user="mia")
    testbed.settle()
    testbed.control("DELETE", "/faults", {})

    by_state = {d.state: d for d in deployments(testbed, env="prod")}
    assert sorted(by_state) == ["awaiting_merge", "queued"]
    running, waiting = by_state["awaiting_merge"], by_state["queued"]
    assert {running.issue_number, waiting.issue_number} == {first_pr, second_pr}
    [pull] = mia.pulls("gitops", "open")
    assert pull["number"] == running.gitops_pr
    [queued] = mia.command_comments("shop", int(waiting.issue_number or 0))[waiting.delivery_id]
    assert f"Queued behind #{running.issue_number}" in queued

    # The first finishes: its pull request is merged, Argo CD syncs it, and the bot's
    # watcher calls it healthy; the one queued behind it then goes ahead.
    testbed.merge("gitops", pull["number"], user="mia")
    [succeeded] = testbed.wait_for(
        "the first prod deployment to succeed",
        lambda: deployments(testbed, state="succeeded", env="prod"),
    )
    assert succeeded.id == running.id
    testbed.wait_for("the queued deployment's pull request", lambda: mia.pulls("gitops", "open"))
    testbed.settle()

    [next_pull] = mia.pulls("gitops", "open")
    [commit] = mia.pull_commits("gitops", next_pull["number"])
    assert commit["trailers"]["Autostack-Delivery"] == [waiting.delivery_id]
    waiting_sha = first_sha if waiting.issue_number == first_pr else second_sha
    assert commit["trailers"]["Autostack-Source-Sha"] == [waiting_sha]
    [answer] = mia.command_comments("shop", int(waiting.issue_number or 0))[waiting.delivery_id]
    assert "Queued behind" not in answer and next_pull["html_url"] in answer


def test_every_operation_completes_once_while_github_fails_a_third_of_its_calls(
    make_testbed: MakeTestbed, tmp_path: Path
) -> None:
    testbed = make_testbed(**FAST_RETRIES)
    mia = Person(testbed, "mia")
    prod_pr, prod_sha = feature_pull(testbed, "feature", {"feature.txt": "new\n"})
    testbed.approve("shop", prod_pr, user="mia")
    mia.set_status("shop", prod_sha, "success")
    main_sha = testbed.push("shop", {"VERSION": "2\n"}, "Bump the version", user="mia")

    # About a third of the REST calls fail: 30% answer 500, 5% hit the rate limit (reset in
    # a second at most, which the queue waits for). Each attempt of a /deploy repeats its
    # eleven or so calls, so it takes tens of attempts: hence the fast retries.
    testbed.control("DELETE", "/faults", {"seed": 4})
    testbed.control(
        "POST", "/faults", {"kind": "error", "status": 500, "route": "/repos/*", "probability": 0.3}
    )
    testbed.control(
        "POST",
        "/faults",
        {"kind": "rate_limit", "route": "/repos/*", "probability": 0.05, "retry_after": 1},
    )
    testbed.build("shop", main_sha, branch="main")
    testbed.comment("shop", prod_pr, "/deploy prod", user="mia")
    testbed.settle(timeout=120)
    rules = testbed.control("GET", "/faults")
    testbed.control("DELETE", "/faults", {})
    # Both rules see every REST call; the faults really fired (the share varies with how
    # many attempts the run needed).
    failed = sum(r["fired"] for r in rules)
    assert failed >= 3 and rules[0]["matched"] > failed, rules

    stored = stored_deliveries(testbed)
    assert {d.state for d in stored} == {"done"}, [(d.event, d.state) for d in stored]
    assert any(d.attempts > 1 for d in stored), "no delivery needed a retry"
    history = gitops_history(testbed, tmp_path / "clone")
    [dev] = deploy_commits(history, env="dev")
    assert dev["trailers"]["Autostack-Source-Sha"] == [main_sha]
    assert deploy_commits(history, env="prod") == []
    [pull] = mia.pulls("gitops")
    assert pull["head"]["ref"] == "autostack/shop-prod" and pull["state"] == "open"
    [prod] = mia.pull_commits("gitops", pull["number"])
    assert prod["trailers"]["Autostack-Source-Sha"] == [prod_sha]
    [answer] = mia.answers("shop", prod_pr)
    assert pull["html_url"] in answer and "refused" not in answer, answer
    states = {d.env: d.state for d in deployments(testbed)}
    # dev landed directly; the watcher may have seen it healthy already.
    assert states in (
        {"dev": "syncing", "prod": "awaiting_merge"},
        {"dev": "succeeded", "prod": "awaiting_merge"},
    ), states
    # One GitHub Deployment for each deployment that reached Argo CD.
    assert [d["environment"] for d in mia.get("shop/deployments")] == ["dev"]
    mia.close()


def test_a_bot_killed_mid_delivery_completes_it_once_after_a_restart(
    make_testbed: MakeTestbed,
) -> None:
    # One worker and a one-second lease: nothing else picks the delivery up while the
    # first bot runs, and the restarted bot may take it over a second after the claim.
    testbed = make_testbed(workers=1, delivery_lease_seconds=1.0)
    mia = Person(testbed, "mia")
    number, sha = feature_pull(testbed, "feature", {"feature.txt": "new\n"})
    testbed.approve("shop", number, user="mia")
    mia.set_status("shop", sha, "success")

    # GitHub is slow to answer about pull requests, so the bot is caught between pushing the
    # GitOps branch and seeing its pull request: SIGKILL it there.
    latency = 3.0
    testbed.control(
        "POST", "/faults", {"kind": "latency", "route": "*/pulls*", "latency_ms": latency * 1000}
    )
    testbed.comment("shop", number, "/deploy prod", user="mia")
    testbed.control("POST", "/webhooks/flush", ok=(200,))
    testbed.wait_for(
        "the GitOps branch to be pushed",
        lambda: "autostack/shop-prod" in [b["name"] for b in mia.get("gitops/branches")],
    )
    time.sleep(latency / 3)
    [claimed] = [d for d in stored_deliveries(testbed) if d.event == "issue_comment"]
    assert (claimed.state, claimed.attempts) == ("running", 1)
    testbed.stop_bot(kill=True)
    testbed.control("DELETE", "/faults", {})
    time.sleep(latency)  # what GitHub had received before the kill is answered by now

    testbed.start_bot_process(**{**QUICK_WATCH, "workers": 1, "delivery_lease_seconds": 1.0})
    testbed.settle()
    [done] = [d for d in stored_deliveries(testbed) if d.delivery_id == claimed.delivery_id]
    assert (done.state, done.attempts) == ("done", 2)
    [pull] = mia.pulls("gitops")
    [commit] = mia.pull_commits("gitops", pull["number"])
    assert commit["trailers"]["Autostack-Delivery"] == [claimed.delivery_id]
    assert commit["trailers"]["Autostack-Source-Sha"] == [sha]
    [answer] = mia.answers("shop", number)
    assert pull["html_url"] in answer
    [deployment] = deployments(testbed)
    assert (deployment.state, deployment.gitops_pr) == ("awaiting_merge", pull["number"])
    mia.close()


def test_secrets_never_reach_the_logs_or_the_comments(
    make_testbed: MakeTestbed, tmp_path: Path
) -> None:
    # PyGithub's debug log prints response bodies.
    testbed = make_testbed(log_level="DEBUG", **FAST_RETRIES)
    mia = Person(testbed, "mia")
    number, sha = feature_pull(testbed, "feature", {"feature.txt": "new\n"})
    testbed.comment("shop", number, "/deploy prod", user="mia")  # refused: not approved
    testbed.settle()
    testbed.approve("shop", number, user="mia")
    mia.set_status("shop", sha, "success")
    # Failures are logged with what the bot was doing: have some REST calls fail.
    testbed.control(
        "POST", "/faults", {"kind": "error", "status": 500, "route": "/repos/*", "first": 3}
    )
    testbed.comment("shop", number, "/deploy prod", user="mia")
    main_sha = testbed.push("shop", {"VERSION": "2\n"}, "Bump the version", user="mia")
    testbed.build("shop", main_sha, branch="main")
    testbed.settle(timeout=60)
    testbed.control("DELETE", "/faults", {})
    assert len(mia.pulls("gitops", "open")) == 1

    app = testbed.control("GET", "/app")
    tokens = [doc["token"] for doc in testbed.control("GET", "/installation-tokens")]
    assert tokens and all(token.startswith("ghs_") for token in tokens)
    key_lines = [line for line in app["private_key_pem"].splitlines() if "-----" not in line]
    secrets = {
        "webhook secret": app["webhook_secret"],
        "Argo CD token": testbed.sandbox_env["AUTOSTACK_ARGOCD_TOKEN"],
        **{f"installation token {n}": token for n, token in enumerate(tokens)},
        **{f"private key line {n}": line for n, line in enumerate(key_lines)},
    }
    assert testbed.bot_process is not None
    logged = testbed.bot_process.output().splitlines()  # everything serve printed
    assert any("GitHub answered 500" in line for line in logged), "no error was logged"
    assert any(" DEBUG " in line for line in logged), "the debug log is not on"
    written = mia.every_comment("shop") + mia.every_comment("gitops")
    written += [p["body"] or "" for p in mia.pulls("gitops") + mia.pulls("shop")]
    for name, secret in secrets.items():
        assert secret and len(secret) >= 16, name
        leaks = [text for text in logged + written if secret in text]
        assert not leaks, f"the {name} appears in: {leaks[0][:300]}"
    mia.close()
