"""Real git clients clone and push over HTTP with GitHub's token authentication."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from tests.sandbox.github.conftest import World

GIT_ENV = {
    **os.environ,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=check
    )


def authed(clone_url: str, token: str) -> str:
    return clone_url.replace("http://", f"http://x-access-token:{token}@", 1)


def test_clone_and_push_with_an_installation_token(world: World, tmp_path: Path) -> None:
    gh = world.gh
    clone_url = gh.api(world.token).get("/repos/alice/app").json()["clone_url"]
    assert clone_url == f"{gh.url}/alice/app.git"
    work = tmp_path / "work"
    git("clone", "-q", authed(clone_url, world.token), str(work))
    assert (work / "src/app.py").read_text() == "print('hi')\n"
    before = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    (work / "NEW.md").write_text("new\n")
    git("add", "NEW.md", cwd=work)
    git("commit", "-q", "-m", "Add NEW", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    after = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    ref = gh.api(world.token).get("/repos/alice/app/git/ref/heads/main").json()
    assert ref["object"]["sha"] == after
    gh.flush()
    pushes = [r.payload for r in world.hooks.of("push")]
    assert pushes[-1]["before"] == before
    assert pushes[-1]["after"] == after
    assert pushes[-1]["ref"] == "refs/heads/main"
    assert pushes[-1]["head_commit"]["added"] == ["NEW.md"]
    assert pushes[-1]["pusher"]["name"] == "autostack[bot]"


def test_anonymous_clone_of_a_private_repo_is_refused(world: World, tmp_path: Path) -> None:
    url = f"{world.gh.url}/alice/app.git"
    result = git("clone", "-q", url, str(tmp_path / "anon"), check=False)
    assert result.returncode != 0
    response = httpx.get(f"{url}/info/refs?service=git-upload-pack")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_token_and_out_of_scope_repo_are_refused(world: World, tmp_path: Path) -> None:
    gh = world.gh
    gh.repo("alice", "private-other", private=True)
    bad = authed(f"{gh.url}/alice/app.git", "ghs_wrong")
    assert git("clone", "-q", bad, str(tmp_path / "a"), check=False).returncode != 0
    other = authed(f"{gh.url}/alice/private-other.git", world.token)
    assert git("clone", "-q", other, str(tmp_path / "b"), check=False).returncode != 0


def test_public_repo_clones_anonymously_but_refuses_anonymous_push(
    world: World, tmp_path: Path
) -> None:
    gh = world.gh
    gh.repo("alice", "public", private=False)
    url = f"{gh.url}/alice/public.git"
    work = tmp_path / "public"
    git("clone", "-q", url, str(work))
    (work / "x").write_text("x")
    git("add", "x", cwd=work)
    git("commit", "-q", "-m", "x", cwd=work)
    assert git("push", "-q", "origin", "main", cwd=work, check=False).returncode != 0


def test_user_token_push_needs_write_permission(world: World, tmp_path: Path) -> None:
    gh = world.gh
    bob = gh.user("bob")
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "read"})
    work = tmp_path / "bob"
    git("clone", "-q", authed(f"{gh.url}/alice/app.git", bob), str(work))
    git("checkout", "-q", "-b", "bob-change", cwd=work)
    (work / "bob.txt").write_text("bob\n")
    git("add", "bob.txt", cwd=work)
    git("commit", "-q", "-m", "Bob's change", cwd=work)
    assert git("push", "-q", "origin", "bob-change", cwd=work, check=False).returncode != 0
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "write"})
    git("push", "-q", "origin", "bob-change", cwd=work)
    gh.flush()
    pushes = [r.payload for r in world.hooks.of("push")]
    assert pushes[-1]["ref"] == "refs/heads/bob-change"
    assert pushes[-1]["created"] is True
    assert pushes[-1]["sender"]["login"] == "bob"
    assert [c["message"] for c in pushes[-1]["commits"]] == ["Bob's change"]
