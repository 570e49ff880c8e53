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

REPO = "/repos/alice/app"


def api_only(method: str, path: str) -> bool:
    """Skip the sandbox's own routes: the control API and git over HTTP."""
    return path.startswith("/_sandbox") or ".git/" in path


def client(gh: Sandbox, recorder: ExchangeRecorder, authorization: str) -> httpx.Client:
    headers = {"Accept": "application/vnd.github+json"}
    if authorization:
        headers["Authorization"] = authorization
    return httpx.Client(base_url=gh.url, headers=headers, transport=ValidatingTransport(recorder))


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def app_jwt(gh: Sandbox) -> str:
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + 540, "iss": str(gh.state.app_id)}
    return jwt.encode(claims, gh.state.private_key_pem, "RS256")


def app_calls(gh: Sandbox, recorder: ExchangeRecorder, installation: int) -> str:
    app = client(gh, recorder, f"Bearer {app_jwt(gh)}")
    ok(app.get("/app"))
    ok(app.get("/app/installations"))
    ok(app.get(f"/app/installations/{installation}"))
    ok(app.get("/repos/alice/app/installation"))
    ok(app.get("/users/alice/installation"))
    deliveries = ok(app.get("/app/hook/deliveries", params={"per_page": 5}))
    ok(app.post(f"/app/hook/deliveries/{deliveries[0]['id']}/attempts"), 202)
    token = ok(app.post(f"/app/installations/{installation}/access_tokens", json={}), 201)
    manifest = {"name": "x", "url": gh.url}
    code = gh.call("POST", "/app-manifests", json={"manifest": manifest})["code"]
    ok(client(gh, recorder, "").post(f"/app-manifests/{code}/conversions"), 201)
    return str(token["token"])


def contents_calls(api: httpx.Client) -> None:
    ok(api.get(REPO))
    ok(api.get(f"{REPO}/contents/src/app.py", params={"ref": "main"}))
    ok(api.get(f"{REPO}/contents/src"))
    put = {"message": "Add config", "content": b64("a: 1\n"), "branch": "main"}
    created = ok(api.put(f"{REPO}/contents/deploy/config.yaml", json=put), 201)
    put.update(content=b64("a: 2\n"), sha=created["content"]["sha"])
    ok(api.put(f"{REPO}/contents/deploy/config.yaml", json=put))


def git_data_calls(api: httpx.Client) -> str:
    main = ok(api.get(f"{REPO}/git/ref/heads/main"))["object"]["sha"]
    ok(api.get(f"{REPO}/git/matching-refs/heads/"))
    commit = ok(api.get(f"{REPO}/git/commits/{main}"))
    blob = ok(api.post(f"{REPO}/git/blobs", json={"content": "x", "encoding": "utf-8"}), 201)
    ok(api.get(f"{REPO}/git/blobs/{blob['sha']}"))
    entry = {"path": "x.txt", "mode": "100644", "type": "blob", "sha": blob["sha"]}
    tree_body = {"base_tree": commit["tree"]["sha"], "tree": [entry]}
    tree = ok(api.post(f"{REPO}/git/trees", json=tree_body), 201)
    ok(api.get(f"{REPO}/git/trees/{tree['sha']}", params={"recursive": "1"}))
    commit_body = {"message": "x", "tree": tree["sha"], "parents": [main]}
    new = ok(api.post(f"{REPO}/git/commits", json=commit_body), 201)
    ok(api.post(f"{REPO}/git/refs", json={"ref": "refs/heads/feature", "sha": new["sha"]}), 201)
    ok(api.patch(f"{REPO}/git/refs/heads/feature", json={"sha": new["sha"], "force": True}))
    ok(api.post(f"{REPO}/git/refs", json={"ref": "refs/heads/gone", "sha": main}), 201)
    assert api.delete(f"{REPO}/git/refs/heads/gone").status_code == 204
    return str(new["sha"])


def history_calls(api: httpx.Client, sha: str) -> None:
    ok(api.get(f"{REPO}/commits/{sha}"))
    ok(api.get(f"{REPO}/commits", params={"sha": "feature", "per_page": 2}))
    ok(api.get(f"{REPO}/compare/main...feature"))
    ok(api.get(f"{REPO}/branches"))
    ok(api.get(f"{REPO}/branches/feature"))
    main = ok(api.get(f"{REPO}/git/ref/heads/main"))["object"]["sha"]
    ok(api.post(f"{REPO}/git/refs", json={"ref": "refs/heads/side", "sha": main}), 201)
    side = {"message": "Side", "content": b64("s"), "branch": "side"}
    side_file = ok(api.put(f"{REPO}/contents/side.txt", json=side), 201)
    ok(api.post(f"{REPO}/merges", json={"base": "side", "head": "feature"}), 201)
    gone = {"message": "Drop side", "sha": side_file["content"]["sha"], "branch": "side"}
    ok(api.request("DELETE", f"{REPO}/contents/side.txt", json=gone))


def pull_calls(api: httpx.Client, bob: httpx.Client) -> None:
    body = {"title": "Feature", "head": "feature", "base": "main", "body": "b"}
    n = ok(api.post(f"{REPO}/pulls", json=body), 201)["number"]
    ok(api.get(f"{REPO}/pulls", params={"state": "open", "head": "alice:feature"}))
    ok(api.get(f"{REPO}/pulls/{n}"))
    ok(api.patch(f"{REPO}/pulls/{n}", json={"title": "Feature!"}))
    ok(bob.post(f"{REPO}/pulls/{n}/reviews", json={"event": "APPROVE", "body": "ok"}))
    ok(api.get(f"{REPO}/pulls/{n}/reviews"))
    ok(api.get(f"{REPO}/pulls/{n}/commits"))
    ok(api.get(f"{REPO}/pulls/{n}/files"))
    comment = ok(bob.post(f"{REPO}/issues/{n}/comments", json={"body": "/deploy dev"}), 201)
    comment_url = f"{REPO}/issues/comments/{comment['id']}"
    ok(api.post(f"{comment_url}/reactions", json={"content": "rocket"}), 201)
    ok(api.get(f"{comment_url}/reactions"))
    ok(api.get(comment_url))
    ok(bob.patch(comment_url, json={"body": "/deploy staging"}))
    ok(api.post(f"{REPO}/issues/{n}/reactions", json={"content": "+1"}), 201)
    ok(api.get(f"{REPO}/issues/{n}/comments"))
    ok(api.get(f"{REPO}/issues/comments"))
    extra = ok(api.post(f"{REPO}/issues/{n}/comments", json={"body": "bye"}), 201)
    assert api.delete(f"{REPO}/issues/comments/{extra['id']}").status_code == 204
    ok(api.get(f"{REPO}/issues/{n}"))
    ok(api.get(f"{REPO}/collaborators/bob/permission"))
    ok(api.put(f"{REPO}/pulls/{n}/merge", json={"merge_method": "merge"}))
    assert api.get(f"{REPO}/pulls/{n}/merge").status_code == 204


def issue_calls(api: httpx.Client) -> None:
    issue = ok(api.post(f"{REPO}/issues", json={"title": "Broken", "body": "it is"}), 201)
    ok(api.patch(f"{REPO}/issues/{issue['number']}", json={"state": "closed"}))
    ok(api.get(f"{REPO}/issues", params={"state": "all"}))


def check_calls(gh: Sandbox, api: httpx.Client, sha: str) -> None:
    status = {"state": "success", "context": "ci", "target_url": gh.url}
    ok(api.post(f"{REPO}/statuses/{sha}", json=status), 201)
    ok(api.get(f"{REPO}/commits/{sha}/status"))
    ok(api.get(f"{REPO}/commits/{sha}/statuses"))
    check = {"name": "autostack", "head_sha": sha, "status": "in_progress"}
    run = ok(api.post(f"{REPO}/check-runs", json=check), 201)
    done = {"conclusion": "success", "output": {"title": "t", "summary": "s"}}
    ok(api.patch(f"{REPO}/check-runs/{run['id']}", json=done))
    ok(api.get(f"{REPO}/check-runs/{run['id']}"))
    ok(api.get(f"{REPO}/commits/{sha}/check-runs"))
    gh.call("POST", "/repos/alice/app/ci", json={"sha": sha, "conclusion": "success"})
    query = {"head_sha": sha, "status": "completed"}
    runs = ok(api.get(f"{REPO}/actions/runs", params=query))
    ok(api.get(f"{REPO}/actions/runs/{runs['workflow_runs'][0]['id']}"))
    ok(api.get(f"{REPO}/actions/workflows/autostack-build.yml/runs", params={"head_sha": sha}))


def deployment_calls(gh: Sandbox, api: httpx.Client, sha: str) -> None:
    body = {"ref": sha, "environment": "dev", "required_contexts": [], "payload": {"image": "x"}}
    deployment = ok(api.post(f"{REPO}/deployments", json=body), 201)
    url = f"{REPO}/deployments/{deployment['id']}"
    ok(api.get(f"{REPO}/deployments", params={"environment": "dev"}))
    ok(api.get(url))
    status = {"state": "success", "environment_url": "http://dev.example", "log_url": gh.url}
    ok(api.post(f"{url}/statuses", json=status), 201)
    statuses = ok(api.get(f"{url}/statuses"))
    ok(api.get(f"{url}/statuses/{statuses[0]['id']}"))


def account_calls(gh: Sandbox, recorder: ExchangeRecorder, api: httpx.Client) -> None:
    ok(api.get("/installation/repositories"))
    ok(api.get("/rate_limit"))
    ok(api.get("/users/alice"))
    gh.call("POST", "/orgs", json={"login": "acme"})
    org = client(gh, recorder, f"token {gh.token(gh.install('acme', []))}")
    ok(org.get("/orgs/acme"))
    body = {"name": "gitops", "private": True, "auto_init": True}
    ok(org.post("/orgs/acme/repos", json=body), 201)
    ok(org.get("/repos/acme/gitops/contents/README.md"))


def test_httpx_session_conforms(world: World) -> None:
    gh = world.gh
    bob_token = gh.user("bob")
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "write"})
    recorder = ExchangeRecorder(base_url=gh.url, skip=api_only)
    api = client(gh, recorder, f"token {app_calls(gh, recorder, world.installation)}")
    contents_calls(api)
    sha = git_data_calls(api)
    history_calls(api, sha)
    pull_calls(api, client(gh, recorder, f"Bearer {bob_token}"))
    issue_calls(api)
    check_calls(gh, api, sha)
    deployment_calls(gh, api, sha)
    account_calls(gh, recorder, api)
    assert len(recorder.exchanges) >= 80
    assert [e.url for e in recorder.exchanges if not e.operation_id] == []
    recorder.assert_conforms()
    assert_webhooks_conform(world)


def test_pygithub_session_conforms(world: World) -> None:
    gh = world.gh
    recorder = ExchangeRecorder(base_url=gh.url, skip=api_only)
    with validating_pygithub(recorder):
        auth = Auth.AppAuth(gh.state.app_id, gh.state.private_key_pem)
        integration = GithubIntegration(auth=auth, base_url=gh.url)
        installation_auth = auth.get_installation_auth(world.installation)
        # PyGithub paces calls to respect GitHub's secondary limits; a local server needs none.
        github = Github(
            base_url=gh.url,
            auth=installation_auth,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
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
        assert [f.filename for f in pr.get_files()] == ["t.txt"]
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
        assert repo.get_pull(pr.number).merged
        deployment = repo.create_deployment(merge.sha, environment="prod", required_contexts=[])
        deployment.create_status("success", environment_url="http://prod.example")
        assert [s.state for s in deployment.get_statuses()] == ["success"]
        assert repo.compare(main.object.sha, merge.sha).ahead_by == 1  # the squash commit
        assert [b.name for b in repo.get_branches()] == ["main", "topic"]
        assert repo.get_commits(sha="main")[0].sha == merge.sha
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
