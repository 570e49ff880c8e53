"""Pull requests merge for real in the bare repository and say so in webhooks."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from sandbox.github import bare
from tests.sandbox.github.conftest import World


def git_log(world: World, ref: str = "main") -> list[list[str]]:
    """``[sha, parent...]`` per commit on ``ref``, newest first, read with the git CLI."""
    path = world.gh.state.repo_path(world.gh.state.repo("alice", "app") or {})
    out = subprocess.run(
        ["git", "--git-dir", str(path), "log", "--format=%H %P", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split() for line in out.splitlines()]


def open_feature_pr(world: World, files: dict[str, str], branch: str = "feature") -> dict[str, Any]:
    gh = world.gh
    gh.call(
        "POST",
        "/repos/alice/app/push",
        json={"user": "alice", "branch": branch, "files": files, "message": f"Change on {branch}"},
    )
    response = gh.api(world.token).post(
        "/repos/alice/app/pulls", json={"title": f"Add {branch}", "head": branch, "base": "main"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_merge_creates_a_real_merge_commit(world: World) -> None:
    gh = world.gh
    pr = open_feature_pr(world, {"feature.txt": "f\n"})
    assert pr["mergeable"] is True
    # Move main on so the merge cannot be a fast-forward.
    gh.call(
        "POST",
        "/repos/alice/app/push",
        json={"user": "alice", "branch": "main", "files": {"main.txt": "m\n"}},
    )
    base_before = git_log(world)[0][0]
    response = gh.api(world.token).put(
        f"/repos/alice/app/pulls/{pr['number']}/merge", json={"sha": pr["head"]["sha"]}
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["merged"] is True
    head = git_log(world)[0]
    assert head[0] == merged["sha"]
    assert head[1:] == [base_before, pr["head"]["sha"]]
    again = gh.api(world.token).get(f"/repos/alice/app/pulls/{pr['number']}").json()
    assert again["merged"] is True and again["state"] == "closed"
    assert again["merge_commit_sha"] == merged["sha"]
    gh.flush()
    closed = world.hooks.of("pull_request", "closed")[-1].payload
    assert closed["pull_request"]["merged"] is True
    assert world.hooks.of("push")[-1].payload["after"] == merged["sha"]


def test_squash_and_rebase(world: World) -> None:
    gh = world.gh
    api = gh.api(world.token)
    pr = open_feature_pr(world, {"a.txt": "a\n"}, "squashed")
    sha = api.put(
        f"/repos/alice/app/pulls/{pr['number']}/merge", json={"merge_method": "squash"}
    ).json()["sha"]
    assert len(git_log(world)[0]) == 2  # one parent
    path = gh.state.repo_path(gh.state.repo("alice", "app") or {})
    assert bare.commit_info(path, sha).message.startswith(f"Add squashed (#{pr['number']})")
    pr = open_feature_pr(world, {"b.txt": "b\n"}, "rebased")
    gh.call(
        "POST",
        "/repos/alice/app/push",
        json={"user": "alice", "branch": "main", "files": {"c.txt": "c\n"}},
    )
    sha = api.put(
        f"/repos/alice/app/pulls/{pr['number']}/merge", json={"merge_method": "rebase"}
    ).json()["sha"]
    assert sha != pr["head"]["sha"]
    assert (
        bare.entry_at(path, sha, "b.txt") is not None
        and bare.entry_at(path, sha, "c.txt") is not None
    )
    assert len(git_log(world)[0]) == 2


def test_conflicts_and_stale_heads_are_refused(world: World) -> None:
    gh = world.gh
    api = gh.api(world.token)
    pr = open_feature_pr(world, {"README.md": "feature\n"})
    gh.call(
        "POST",
        "/repos/alice/app/push",
        json={"user": "alice", "branch": "main", "files": {"README.md": "main\n"}},
    )
    assert api.get(f"/repos/alice/app/pulls/{pr['number']}").json()["mergeable"] is False
    assert api.put(f"/repos/alice/app/pulls/{pr['number']}/merge", json={}).status_code == 405
    other = open_feature_pr(world, {"ok.txt": "ok\n"}, "other")
    stale = api.put(f"/repos/alice/app/pulls/{other['number']}/merge", json={"sha": "0" * 40})
    assert stale.status_code == 409


@pytest.mark.parametrize("event", ["APPROVE"])
def test_review_approves_and_push_synchronizes(world: World, event: str) -> None:
    gh = world.gh
    gh.user("bob")
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "write"})
    pr = open_feature_pr(world, {"x.txt": "x\n"})
    gh.call(
        "POST",
        f"/repos/alice/app/pulls/{pr['number']}/reviews",
        json={"user": "bob", "event": event},
    )
    reviews = gh.api(world.token).get(f"/repos/alice/app/pulls/{pr['number']}/reviews").json()
    assert [(r["user"]["login"], r["state"]) for r in reviews] == [("bob", "APPROVED")]
    new = gh.call(
        "POST",
        "/repos/alice/app/push",
        json={"user": "alice", "branch": "feature", "files": {"y.txt": "y\n"}},
    )["sha"]
    gh.flush()
    sync = world.hooks.of("pull_request", "synchronize")[-1].payload
    assert sync["before"] == pr["head"]["sha"] and sync["after"] == new
    assert (
        world.hooks.of("pull_request_review", "submitted")[-1].payload["review"]["state"]
        == "approved"
    )
