"""Every request and response of a realistic session, through httpx and through PyGithub,
conforms to GitHub's OpenAPI description; every webhook sent validates against GitHub's
webhook schemas.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
from github import Auth, Github, GithubIntegration

from tests.sandbox.github.conftest import Sandbox, World
from tests.support.github_openapi import ExchangeRecorder, ValidatingTransport, validating_pygithub
from tests.support.webhook_schemas import validate_webhook


def api_only(method: str, path: str) -> bool:
    """Skip the sandbox's own routes: the control API and git over HTTP."""
    return path.startswith("/_sandbox") or ".git/" in path


def client(gh: Sandbox, recorder: ExchangeRecorder, authorization: str) -> httpx.Client:
    return httpx.Client(
        base_url=gh.url,
        headers={"Authorization": authorization, "Accept": "application/vnd.github+json"},
        transport=ValidatingTransport(recorder),
    )


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def app_calls(gh: Sandbox, recorder: ExchangeRecorder, installation: int) -> str:
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + 540, "iss": str(gh.state.app_id)}
    app = client(gh, recorder, "Bearer " + jwt.encode(claims, gh.state.private_key_pem, "RS256"))
    ok(app.get("/app"))
    ok(app.get("/app/installations"))
    ok(app.get(f"/app/installations/{installation}"))
    ok(app.get("/repos/alice/app/installation"))
    ok(app.get("/users/alice/installation"))
    token = ok(app.post(f"/app/installations/{installation}/access_tokens", json={}), 201)
    code = gh.call("POST", "/app-manifests", json={"manifest": {"name": "x", "url": gh.url}})[
        "code"
    ]
    ok(client(gh, recorder, "").post(f"/app-manifests/{code}/conversions"), 201)
    return str(token["token"])


def contents_and_git_calls(api: httpx.Client) -> str:
    repo = "/repos/alice/app"
    ok(api.get(repo))
    ok(api.get(f"{repo}/contents/src/app.py", params={"ref": "main"}))
    ok(api.get(f"{repo}/contents/src"))
    put = {
        "message": "Add config",
        "content": base64.b64encode(b"a: 1\n").decode(),
        "branch": "main",
    }
    created = ok(api.put(f"{repo}/contents/deploy/config.yaml", json=put), 201)
    put.update(content=base64.b64encode(b"a: 2\n").decode(), sha=created["content"]["sha"])
    ok(api.put(f"{repo}/contents/deploy/config.yaml", json=put))
    main = ok(api.get(f"{repo}/git/ref/heads/main"))["object"]["sha"]
    ok(api.get(f"{repo}/git/matching-refs/heads/"))
    commit = ok(api.get(f"{repo}/git/commits/{main}"))
    blob = ok(api.post(f"{repo}/git/blobs", json={"content": "x", "encoding": "utf-8"}), 201)
    ok(api.get(f"{repo}/git/blobs/{blob['sha']}"))
    entry = {"path": "x.txt", "mode": "100644", "type": "blob", "sha": blob["sha"]}
    tree = ok(
        api.post(f"{repo}/git/trees", json={"base_tree": commit["tree"]["sha"], "tree": [entry]}),
        201,
    )
    ok(api.get(f"{repo}/git/trees/{tree['sha']}", params={"recursive": "1"}))
    new = ok(
        api.post(
            f"{repo}/git/commits", json={"message": "x", "tree": tree["sha"], "parents": [main]}
        ),
        201,
    )
    ok(api.post(f"{repo}/git/refs", json={"ref": "refs/heads/feature", "sha": new["sha"]}), 201)
    ok(api.patch(f"{repo}/git/refs/heads/feature", json={"sha": new["sha"], "force": True}))
    ok(api.get(f"{repo}/commits/{new['sha']}"))
    ok(api.get(f"{repo}/compare/main...feature"))
    ok(api.post(f"{repo}/git/refs", json={"ref": "refs/heads/gone", "sha": main}), 201)
    assert api.delete(f"{repo}/git/refs/heads/gone").status_code == 204
    return str(new["sha"])


def pull_and_issue_calls(api: httpx.Client, bob: httpx.Client) -> None:
    repo = "/repos/alice/app"
    pr = ok(
        api.post(
            f"{repo}/pulls",
            json={"title": "Feature", "head": "feature", "base": "main", "body": "b"},
        ),
        201,
    )
    n = pr["number"]
    ok(api.get(f"{repo}/pulls", params={"state": "open", "head": "alice:feature"}))
    ok(api.get(f"{repo}/pulls/{n}"))
    ok(api.patch(f"{repo}/pulls/{n}", json={"title": "Feature!"}))
    ok(bob.post(f"{repo}/pulls/{n}/reviews", json={"event": "APPROVE", "body": "ok"}))
    ok(api.get(f"{repo}/pulls/{n}/reviews"))
    ok(api.get(f"{repo}/pulls/{n}/commits"))
    comment = ok(bob.post(f"{repo}/issues/{n}/comments", json={"body": "/deploy dev"}), 201)
    ok(
        api.post(f"{repo}/issues/comments/{comment['id']}/reactions", json={"content": "rocket"}),
        201,
    )
    ok(api.get(f"{repo}/issues/comments/{comment['id']}/reactions"))
    ok(api.get(f"{repo}/issues/comments/{comment['id']}"))
    ok(bob.patch(f"{repo}/issues/comments/{comment['id']}", json={"body": "/deploy staging"}))
    ok(api.get(f"{repo}/issues/{n}/comments"))
    ok(api.get(f"{repo}/issues/{n}"))
    ok(api.get(f"{repo}/collaborators/bob/permission"))
    ok(api.put(f"{repo}/pulls/{n}/merge", json={"merge_method": "merge"}))
    issue = ok(api.post(f"{repo}/issues", json={"title": "Broken", "body": "it is"}), 201)
    ok(api.patch(f"{repo}/issues/{issue['number']}", json={"state": "closed"}))
    ok(api.get(f"{repo}/issues", params={"state": "all"}))


def ci_and_deployment_calls(gh: Sandbox, api: httpx.Client, sha: str) -> None:
    repo = "/repos/alice/app"
    ok(
        api.post(
            f"{repo}/statuses/{sha}",
            json={"state": "success", "context": "ci", "target_url": gh.url},
        ),
        201,
    )
    ok(api.get(f"{repo}/commits/{sha}/status"))
    ok(api.get(f"{repo}/commits/{sha}/statuses"))
    run = ok(
        api.post(
            f"{repo}/check-runs",
            json={"name": "autostack", "head_sha": sha, "status": "in_progress"},
        ),
        201,
    )
    ok(
        api.patch(
            f"{repo}/check-runs/{run['id']}",
            json={"conclusion": "success", "output": {"title": "t", "summary": "s"}},
        )
    )
    ok(api.get(f"{repo}/check-runs/{run['id']}"))
    ok(api.get(f"{repo}/commits/{sha}/check-runs"))
    gh.call("POST", "/repos/alice/app/ci", json={"sha": sha, "conclusion": "success"})
    ok(api.get(f"{repo}/actions/runs", params={"head_sha": sha, "status": "completed"}))
    body = {
        "ref": sha,
        "environment": "dev",
        "auto_merge": False,
        "required_contexts": [],
        "payload": {"image": "x"},
    }
    deployment = ok(api.post(f"{repo}/deployments", json=body), 201)
    ok(api.get(f"{repo}/deployments", params={"environment": "dev"}))
    ok(api.get(f"{repo}/deployments/{deployment['id']}"))
    status = {"state": "success", "environment_url": "http://dev.example", "log_url": gh.url}
    ok(api.post(f"{repo}/deployments/{deployment['id']}/statuses", json=status), 201)
    ok(api.get(f"{repo}/deployments/{deployment['id']}/statuses"))
    ok(api.get("/installation/repositories"))
    ok(api.get("/rate_limit"))


def test_httpx_session_conforms(world: World) -> None:
    gh = world.gh
    bob_token = gh.user("bob")
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "write"})
    recorder = ExchangeRecorder(base_url=gh.url, skip=api_only)
    token = app_calls(gh, recorder, world.installation)
    api = client(gh, recorder, f"token {token}")
    sha = contents_and_git_calls(api)
    pull_and_issue_calls(api, client(gh, recorder, f"Bearer {bob_token}"))
    ci_and_deployment_calls(gh, api, sha)
    assert len(recorder.exchanges) >= 60
    assert all(e.operation_id for e in recorder.exchanges)
    recorder.assert_conforms()
    assert_webhooks_conform(world)


def test_pygithub_session_conforms(world: World) -> None:
    gh = world.gh
    recorder = ExchangeRecorder(base_url=gh.url, skip=api_only)
    with validating_pygithub(recorder):
        auth = Auth.AppAuth(gh.state.app_id, gh.state.private_key_pem)
        integration = GithubIntegration(auth=auth, base_url=gh.url)
        installation_auth = auth.get_installation_auth(world.installation)
        github = Github(base_url=gh.url, auth=installation_auth)
        assert integration.get_repo_installation("alice", "app").id == world.installation
        repo = github.get_repo("alice/app")
        readme = repo.get_contents("README.md", ref="main")
        assert not isinstance(readme, list)
        assert readme.decoded_content == b"hello\n"
        repo.create_file("deploy/x.yaml", "Add x", "x: 1\n", branch="main")
        current = repo.get_contents("deploy/x.yaml")
        assert not isinstance(current, list)
        repo.update_file("deploy/x.yaml", "Update x", "x: 2\n", current.sha, branch="main")
        main = repo.get_git_ref("heads/main")
        repo.create_git_ref("refs/heads/topic", main.object.sha)
        repo.create_file("t.txt", "topic", "t\n", branch="topic")
        pr = repo.create_pull(base="main", head="topic", title="Topic", body="Adds t")
        assert [p.number for p in repo.get_pulls(state="open")] == [pr.number]
        comment = pr.as_issue().create_comment("/status")
        comment.create_reaction("eyes")
        assert repo.get_collaborator_permission("alice") == "admin"
        sha = pr.head.sha
        repo.get_commit(sha).create_status("success", context="ci", description="green")
        assert repo.get_commit(sha).get_combined_status().state == "success"
        check = repo.create_check_run("autostack", sha, status="in_progress")
        check.edit(status="completed", conclusion="success")
        assert [c.conclusion for c in repo.get_commit(sha).get_check_runs()] == ["success"]
        merge = pr.merge(merge_method="squash")
        assert merge.merged
        deployment = repo.create_deployment(merge.sha, environment="prod", required_contexts=[])
        deployment.create_status("success", environment_url="http://prod.example")
        assert [s.state for s in deployment.get_statuses()] == ["success"]
        assert repo.compare(main.object.sha, merge.sha).ahead_by == 1  # the squash commit
        gh.call("POST", "/repos/alice/app/ci", json={"sha": merge.sha, "conclusion": "failure"})
        runs = repo.get_workflow_runs(head_sha=merge.sha)
        assert [(r.name, r.conclusion) for r in runs] == [("AutoStack build", "failure")]
    assert len(recorder.exchanges) > 20
    recorder.assert_conforms()
    assert_webhooks_conform(world)


def assert_webhooks_conform(world: World) -> None:
    world.gh.flush()
    sent = world.hooks.received
    assert {r.event for r in sent} >= {"installation", "push", "pull_request", "issue_comment"}
    violations = [v for r in sent for v in validate_webhook(r.event, r.payload)]
    assert violations == [], "\n".join(violations)
