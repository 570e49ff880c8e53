"""People act through PyGithub with their own tokens: fork, open a pull request, comment,
approve; the App then merges the fork's change into the base repository.
"""

from __future__ import annotations

from github import Auth, Github

from sandbox.github import bare
from tests.sandbox.github.conftest import Sandbox, World


def as_user(gh: Sandbox, token: str) -> Github:
    return Github(
        base_url=gh.url,
        auth=Auth.Token(token),
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_fork_pull_request_reviewed_and_merged(world: World) -> None:
    gh = world.gh
    bob = gh.user("bob")
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "read"})
    gh.call("POST", "/repos/alice/app/forks", json={"owner": "bob"})
    files = {"bob.txt": "from bob\n"}
    gh.call("POST", "/repos/bob/app/push", json={"user": "bob", "branch": "fix", "files": files})
    upstream = as_user(gh, bob).get_repo("alice/app")
    pr = upstream.create_pull(base="main", head="bob:fix", title="Bob's fix", body="Please")
    assert pr.head.repo.full_name == "bob/app"
    pr.as_issue().create_comment("/deploy dev")
    alice_view = as_user(gh, world.alice).get_repo("alice/app").get_pull(pr.number)
    alice_view.create_review(event="APPROVE", body="Thanks")
    assert [r.state for r in alice_view.get_reviews()] == ["APPROVED"]
    app_view = gh.api(world.token)
    merged = app_view.put(f"/repos/alice/app/pulls/{pr.number}/merge", json={}).json()
    path = gh.state.repo_path(gh.state.repo("alice", "app") or {})
    assert bare.entry_at(path, merged["sha"], "bob.txt") is not None
    gh.flush()
    comment = world.hooks.of("issue_comment", "created")[-1].payload
    assert comment["sender"]["login"] == "bob"
    assert comment["comment"]["author_association"] == "NONE"
    assert comment["issue"]["pull_request"]["url"].endswith(f"/pulls/{pr.number}")
    opened = world.hooks.of("pull_request", "opened")[-1].payload
    assert opened["pull_request"]["head"]["repo"]["full_name"] == "bob/app"


def test_people_cannot_approve_their_own_pull_request(world: World) -> None:
    gh = world.gh
    gh.call(
        "POST", "/repos/alice/app/push", json={"user": "alice", "branch": "x", "files": {"x": "1"}}
    )
    repo = as_user(gh, world.alice).get_repo("alice/app")
    pr = repo.create_pull(base="main", head="x", title="X")
    response = gh.api(world.alice).post(
        f"/repos/alice/app/pulls/{pr.number}/reviews", json={"event": "APPROVE"}
    )
    assert response.status_code == 422


def test_pinned_public_url(world: World) -> None:
    gh = world.gh
    gh.state.set_public_url("http://localhost:9999/")
    repo = gh.api(world.token).get("/repos/alice/app").json()
    assert repo["clone_url"] == "http://localhost:9999/alice/app.git"
