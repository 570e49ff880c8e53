"""REST behaviour: pagination, conditional requests, errors, the request log, restarts."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.sandbox.github.conftest import Sandbox, World, start


def test_pagination_links(world: World) -> None:
    gh = world.gh
    for n in range(5):
        gh.call("POST", "/repos/alice/app/issues", json={"user": "alice", "title": f"issue {n}"})
    api = gh.api(world.token)
    first = api.get("/repos/alice/app/issues", params={"per_page": 2})
    assert [i["title"] for i in first.json()] == ["issue 4", "issue 3"]
    links = first.headers["link"]
    assert 'rel="next"' in links and 'rel="last"' in links and "page=3" in links
    last = api.get("/repos/alice/app/issues", params={"per_page": 2, "page": 3})
    assert [i["title"] for i in last.json()] == ["issue 0"]
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]


def test_etag_and_not_modified(world: World) -> None:
    api = world.gh.api(world.token)
    ref = "/repos/alice/app/git/ref/heads/main"
    first = api.get(ref)
    etag = first.headers["etag"]
    again = api.get(ref, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # Conditional hits are free, as on GitHub.
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
    world.gh.call("POST", "/repos/alice/app/push", json={"user": "alice", "files": {"n": "1"}})
    changed = api.get(ref, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # A conditional request that is answered in full is charged.
    remaining = int(again.headers["x-ratelimit-remaining"])
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1


def test_unknown_routes_answer_githubs_404(world: World) -> None:
    response = world.gh.api(world.token).get("/repos/alice/app/no-such-thing/at-all")
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"
    assert response.json()["documentation_url"] == "https://docs.github.com/rest"


def test_contents_put_conflicts(world: World) -> None:
    api = world.gh.api(world.token)
    body = {"message": "m", "content": base64.b64encode(b"x").decode()}
    assert api.put("/repos/alice/app/contents/README.md", json=body).status_code == 422
    stale = api.put("/repos/alice/app/contents/README.md", json={**body, "sha": "1" * 40})
    assert stale.status_code == 409
    current = api.get("/repos/alice/app/contents/README.md").json()
    assert (
        api.put(
            "/repos/alice/app/contents/README.md", json={**body, "sha": current["sha"]}
        ).status_code
        == 200
    )


def test_refs_refuse_non_fast_forward_without_force(world: World) -> None:
    gh = world.gh
    api = gh.api(world.token)
    old = api.get("/repos/alice/app/git/ref/heads/main").json()["object"]["sha"]
    gh.call("POST", "/repos/alice/app/push", json={"user": "alice", "files": {"n": "1"}})
    rewind = api.patch("/repos/alice/app/git/refs/heads/main", json={"sha": old})
    assert rewind.status_code == 422
    assert (
        api.patch(
            "/repos/alice/app/git/refs/heads/main", json={"sha": old, "force": True}
        ).status_code
        == 200
    )
    gh.flush()
    assert world.hooks.of("push")[-1].payload["forced"] is True


def test_request_log_counts_calls_per_route(world: World) -> None:
    gh = world.gh
    gh.call("DELETE", "/requests")
    api = gh.api(world.token)
    api.get("/repos/alice/app")
    api.get("/repos/alice/app/pulls")
    api.get("/repos/alice/app/pulls")
    log = gh.call("GET", "/requests", params={"route": "/repos/{owner}/{repo}/pulls"})
    assert [(e["method"], e["status"], e["installation_id"]) for e in log] == [
        ("GET", 200, world.installation)
    ] * 2
    assert len(gh.state.requests.entries()) == 3


def test_restart_keeps_state(gh: Sandbox, tmp_path: Path) -> None:
    token = gh.user("carol")
    gh.repo("carol", "svc", {"a.txt": "a\n"})
    installation = gh.install("carol")
    gh.call("PUT", "/webhook", json={"url": "http://127.0.0.1:9/hook"})
    app_id, key = gh.state.app_id, gh.state.private_key_pem
    data_dir = gh.state.data_dir
    gh.server.stop()
    gh.state.close()
    state, server = start(data_dir)
    try:
        again = Sandbox(state, server)
        assert (state.app_id, state.private_key_pem) == (app_id, key)
        assert state.webhook_url == "http://127.0.0.1:9/hook"
        assert (data_dir / "app-private-key.pem").stat().st_mode & 0o777 == 0o600
        assert again.api(token).get("/repos/carol/svc/contents/a.txt").status_code == 200
        inst_token = again.token(installation)
        assert again.api(inst_token).get("/repos/carol/svc").json()["full_name"] == "carol/svc"
    finally:
        server.stop()
        state.close()


def test_a_successful_deployment_makes_earlier_ones_inactive(world: World) -> None:
    api = world.gh.api(world.token)
    sha = api.get("/repos/alice/app/git/ref/heads/main").json()["object"]["sha"]

    def deploy(environment: str, production: bool = False, **status: object) -> int:
        body = {
            "ref": sha,
            "environment": environment,
            "required_contexts": [],
            "production_environment": production,
        }
        deployment = api.post("/repos/alice/app/deployments", json=body).json()
        url = f"/repos/alice/app/deployments/{deployment['id']}/statuses"
        assert api.post(url, json={"state": "success", **status}).status_code == 201
        return int(deployment["id"])

    def states(deployment_id: int) -> list[str]:
        url = f"/repos/alice/app/deployments/{deployment_id}/statuses"
        return [s["state"] for s in api.get(url).json()]

    first = deploy("dev")
    other_env = deploy("staging")
    second = deploy("dev")
    assert states(first) == ["inactive", "success"]  # newest first
    assert states(other_env) == ["success"]
    assert states(second) == ["success"]
    kept = deploy("dev", auto_inactive=False)
    assert states(second) == ["success"] and states(kept) == ["success"]
    prod = deploy("prod", production=True)
    deploy("prod", production=True)
    assert states(prod) == ["success"]  # GitHub leaves production deployments alone
