"""Sync like Argo CD: automated after a poll, manual through the API, and the comparison."""

from __future__ import annotations

from tests.sandbox.argocd.conftest import Sandbox
from tests.sandbox.argocd.gitops import git


def test_automated_apps_sync_on_discovery_and_manual_ones_wait(sandbox: Sandbox) -> None:
    head = git(sandbox.repo.work, "rev-parse", "HEAD")
    dev = sandbox.client.app("web-dev")["status"]
    assert dev["sync"] == {**dev["sync"], "status": "Synced", "revision": head}
    assert dev["operationState"]["phase"] == "Succeeded"
    assert dev["operationState"]["syncResult"]["revision"] == head
    assert dev["operationState"]["operation"]["initiatedBy"] == {"automated": True}
    assert [(h["id"], h["revision"]) for h in dev["history"]] == [(0, head)]
    assert dev["summary"]["images"] == ["ghcr.io/acme/web:v1"]

    prod = sandbox.client.app("web-prod")["status"]
    assert prod["sync"]["status"] == "OutOfSync"
    assert prod["health"]["status"] == "Missing"
    assert "operationState" not in prod and "history" not in prod
    assert {r["health"]["status"] for r in prod["resources"]} == {"Missing"}


def test_push_then_poll_auto_syncs_the_new_image(sandbox: Sandbox) -> None:
    sha = sandbox.repo.set_image("web", "dev", "v2")
    assert sandbox.client.app("web-dev")["status"]["sync"]["revision"] != sha  # not polled yet
    sandbox.state.poll_now()
    status = sandbox.client.app("web-dev")["status"]
    assert status["sync"]["status"] == "Synced"
    assert status["sync"]["revision"] == sha
    assert status["operationState"]["syncResult"]["revision"] == sha
    assert status["summary"]["images"] == ["ghcr.io/acme/web:v2"]
    assert [h["id"] for h in status["history"]] == [0, 1]
    assert status["history"][-1]["revision"] == sha
    deployment = next(
        r for r in status["operationState"]["syncResult"]["resources"] if r["kind"] == "Deployment"
    )
    assert deployment["message"] == "deployment.apps/web configured"
    assert deployment["images"] == ["ghcr.io/acme/web:v2"]


def test_a_commit_elsewhere_keeps_the_app_synced_but_advances_its_revision(
    sandbox: Sandbox,
) -> None:
    synced = sandbox.client.app("web-dev")["status"]["sync"]["revision"]
    sha = sandbox.repo.set_image("api", "dev", "v7")  # someone else's commit, other path
    status = sandbox.client.app("web-dev", refresh="normal")["status"]
    assert status["sync"]["status"] == "Synced"
    assert status["sync"]["revision"] == sha
    assert status["operationState"]["syncResult"]["revision"] == synced
    assert len(status["history"]) == 1


def test_manual_sync_turns_out_of_sync_into_synced(sandbox: Sandbox) -> None:
    sha = sandbox.repo.set_image("web", "prod", "v2")
    before = sandbox.client.app("web-prod", refresh="hard")["status"]
    assert before["sync"] == {**before["sync"], "status": "OutOfSync", "revision": sha}

    response = sandbox.client.sync("web-prod", prune=True)
    assert response.status_code == 200, response.text
    operation = response.json()["operation"]
    assert operation["sync"]["revision"] == sha
    assert operation["initiatedBy"] == {"username": "admin"}

    sandbox.state.wait_idle()
    status = sandbox.client.app("web-prod")["status"]
    assert status["sync"]["status"] == "Synced"
    assert status["operationState"]["phase"] == "Succeeded"
    assert status["operationState"]["finishedAt"] >= status["operationState"]["startedAt"]
    assert status["history"][0]["initiatedBy"] == {"username": "admin"}
    assert status["history"][0]["deployStartedAt"] <= status["history"][0]["deployedAt"]
    assert status["health"]["status"] == "Progressing"
    assert {r["status"] for r in status["resources"]} == {"Synced"}


def test_sync_to_an_older_revision_leaves_the_app_out_of_sync(sandbox: Sandbox) -> None:
    old = sandbox.repo.set_image("web", "prod", "v2")
    sandbox.repo.set_image("web", "prod", "v3")
    assert sandbox.client.sync("web-prod", revision=old).status_code == 200
    sandbox.state.wait_idle()
    status = sandbox.client.app("web-prod")["status"]
    assert status["history"][-1]["revision"] == old
    assert status["summary"]["images"] == ["ghcr.io/acme/web:v2"]
    assert status["sync"]["status"] == "OutOfSync"


def test_sync_refusals_use_argo_cd_errors(sandbox: Sandbox) -> None:
    head = git(sandbox.repo.work, "rev-parse", "HEAD")
    pinned = sandbox.client.sync("web-dev", revision=head)
    assert pinned.status_code == 400
    assert pinned.json()["code"] == 9
    assert pinned.json()["message"] == f"Cannot sync to {head}: auto-sync currently set to HEAD"

    sandbox.control("POST", "slow-sync", {"seconds": 30})
    assert sandbox.client.sync("web-prod").status_code == 200
    busy = sandbox.client.sync("web-prod")
    assert busy.status_code == 400
    assert busy.json()["message"] == "another operation is already in progress"

    missing = sandbox.client.sync("nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": 'applications.argoproj.io "nope" not found',
        "code": 5,
        "message": 'applications.argoproj.io "nope" not found',
    }


def test_removed_objects_are_pruned_only_when_asked(sandbox: Sandbox) -> None:
    sandbox.repo.write("apps/web/base/kustomization.yaml", "resources:\n  - deployment.yaml\n")
    sandbox.repo.commit("Drop the web service")
    sandbox.client.sync("web-prod")
    sandbox.state.wait_idle()
    sandbox.state.poll_now()  # web-dev is automated with prune: true
    kinds = {
        name: {
            (r["kind"], r.get("requiresPruning", False))
            for r in sandbox.client.app(name)["status"]["resources"]
        }
        for name in ("web-dev", "web-prod")
    }
    assert kinds["web-dev"] == {("Deployment", False)}
    assert kinds["web-prod"] == {("Deployment", False)}  # first sync: nothing live to prune

    sandbox.repo.write(
        "apps/web/base/kustomization.yaml", "resources:\n  - deployment.yaml\n  - service.yaml\n"
    )
    sandbox.repo.commit("Restore the web service")
    sandbox.client.sync("web-prod")
    sandbox.state.wait_idle()
    sandbox.repo.write("apps/web/base/kustomization.yaml", "resources:\n  - deployment.yaml\n")
    sandbox.repo.commit("Drop the web service again")
    sandbox.client.sync("web-prod", prune=False)
    sandbox.state.wait_idle()
    status = sandbox.client.app("web-prod")["status"]
    service = next(r for r in status["resources"] if r["kind"] == "Service")
    assert service["requiresPruning"] is True
    assert status["sync"]["status"] == "OutOfSync"


def test_the_controller_polls_on_its_interval_and_drops_removed_apps(sandbox: Sandbox) -> None:
    sandbox.repo.set_image("web", "dev", "v5")
    sandbox.repo.write("argocd/sets/api.yaml", "# api moved elsewhere\n")
    head = sandbox.repo.commit("Remove the api ApplicationSet")
    sandbox.advance(3599)
    assert sandbox.client.app("web-dev")["status"]["sync"]["revision"] != head
    sandbox.advance(2)
    status = sandbox.client.app("web-dev")["status"]
    assert status["history"][-1]["revision"] == head  # Argo CD syncs to the head it compared
    assert status["summary"]["images"] == ["ghcr.io/acme/web:v5"]
    listed = sandbox.client.get("/api/v1/applications").json()["items"]
    assert [a["metadata"]["name"] for a in listed] == ["web-dev", "web-prod"]
    assert sandbox.client.get("/api/v1/applications/api-dev").status_code == 404
