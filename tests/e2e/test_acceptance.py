"""Acceptance tests of the bot (issue 4): whole scenarios on loopback, driven by the sandbox
GitHub's signed webhooks, judged by what GitHub and the GitOps repository show afterwards.

Covered elsewhere, not repeated here: install -> onboarding pull requests
(tests/bot/handlers/test_install.py, the end-to-end test at its bottom); merge -> build ->
dev deployed and a read-only user refused (tests/e2e/test_deploy.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testbed import Testbed
from tests.e2e.lookout import (
    Person,
    deploy_commits,
    deployer,
    deployments,
    feature_pull,
    gitops_history,
)

OVERLAY = "apps/shop/overlays/{}/kustomization.yaml"


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

    # The first finishes: its pull request is merged, and Argo CD reports it synced. The
    # Argo CD watcher would take seconds to call it healthy; the test ends it instead, as
    # the watcher does, through the engine.
    testbed.merge("gitops", pull["number"], user="mia")
    testbed.settle()
    [syncing] = deployments(testbed, state="syncing")
    assert syncing.id == running.id
    deployer(testbed).finish(syncing, "succeeded", "synced and healthy")
    testbed.settle()

    [next_pull] = mia.pulls("gitops", "open")
    [commit] = mia.pull_commits("gitops", next_pull["number"])
    assert commit["trailers"]["Autostack-Delivery"] == [waiting.delivery_id]
    waiting_sha = first_sha if waiting.issue_number == first_pr else second_sha
    assert commit["trailers"]["Autostack-Source-Sha"] == [waiting_sha]
    [answer] = mia.command_comments("shop", int(waiting.issue_number or 0))[waiting.delivery_id]
    assert "Queued behind" not in answer and next_pull["html_url"] in answer
