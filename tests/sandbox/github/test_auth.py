"""App JWTs and installation tokens are checked the way GitHub checks them."""

from __future__ import annotations

import time

import jwt
import pytest
from github import Auth, GithubIntegration

from sandbox.github.identity import generate_private_key_pem
from tests.sandbox.github.conftest import Sandbox, World


def app_jwt(gh: Sandbox, iat: float, exp: float, key: str | None = None, iss: object = None) -> str:
    claims = {"iat": int(iat), "exp": int(exp), "iss": str(iss or gh.state.app_id)}
    return jwt.encode(claims, key or gh.state.private_key_pem, algorithm="RS256")


def get_app(gh: Sandbox, token: str) -> tuple[int, dict[str, object]]:
    response = gh.api().get("/app", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


def test_a_fresh_jwt_reads_the_app(gh: Sandbox) -> None:
    now = time.time()
    status, body = get_app(gh, app_jwt(gh, now - 60, now + 540))
    assert status == 200
    assert body["id"] == gh.state.app_id
    assert body["slug"] == gh.state.app_slug


@pytest.mark.parametrize(
    ("iat_offset", "exp_offset", "why"),
    [
        (-700, -100, "expired"),
        (0, 900, "lifetime over 10 minutes"),
        (300, 600, "issued in the future beyond the skew"),
    ],
)
def test_bad_jwt_times_are_refused(gh: Sandbox, iat_offset: int, exp_offset: int, why: str) -> None:
    now = time.time()
    status, body = get_app(gh, app_jwt(gh, now + iat_offset, now + exp_offset))
    assert status == 401, why
    assert "documentation_url" in body


def test_jwt_signed_with_another_key_or_for_another_app_is_refused(gh: Sandbox) -> None:
    now = time.time()
    other_key = generate_private_key_pem()
    assert get_app(gh, app_jwt(gh, now - 30, now + 300, key=other_key))[0] == 401
    assert get_app(gh, app_jwt(gh, now - 30, now + 300, iss=gh.state.app_id + 1))[0] == 401


def test_app_endpoints_refuse_installation_tokens(world: World) -> None:
    response = world.gh.api(world.token).get("/app")
    assert response.status_code == 401


def test_pygithub_integration_gets_a_scoped_token(world: World) -> None:
    gh = world.gh
    auth = Auth.AppAuth(gh.state.app_id, gh.state.private_key_pem)
    integration = GithubIntegration(auth=auth, base_url=gh.url)
    installation = integration.get_repo_installation("alice", "app")
    assert installation.id == world.installation
    token = integration.get_access_token(installation.id)
    assert token.token.startswith("ghs_")
    assert 3500 < (token.expires_at.timestamp() - time.time()) <= 3600
    assert [i.id for i in integration.get_installations()] == [world.installation]


def test_installation_token_sees_only_its_repositories(world: World) -> None:
    gh = world.gh
    gh.repo("alice", "secret", private=True)
    gh.repo("alice", "open-source", private=False)
    api = gh.api(world.token)
    assert api.get("/repos/alice/app").status_code == 200
    hidden = api.get("/repos/alice/secret")
    assert hidden.status_code == 404
    assert hidden.json()["message"] == "Not Found"
    assert api.get("/repos/alice/open-source").status_code == 404
    names = [r["name"] for r in api.get("/installation/repositories").json()["repositories"]]
    assert names == ["app"]


def test_token_scoped_to_fewer_repositories(world: World) -> None:
    gh = world.gh
    gh.repo("alice", "other")
    gh.call("POST", f"/installations/{world.installation}/repositories", json={"add": ["other"]})
    now = time.time()
    headers = {"Authorization": f"Bearer {app_jwt(gh, now - 30, now + 300)}"}
    response = gh.api().post(
        f"/app/installations/{world.installation}/access_tokens",
        headers=headers,
        json={"repositories": ["other"]},
    )
    assert response.status_code == 201
    body = response.json()
    assert [r["name"] for r in body["repositories"]] == ["other"]
    scoped = gh.api(body["token"])
    assert scoped.get("/repos/alice/other").status_code == 200
    assert scoped.get("/repos/alice/app").status_code == 404


def test_bad_and_expired_tokens_get_bad_credentials(world: World) -> None:
    gh = world.gh
    response = gh.api("ghs_not-a-token").get("/repos/alice/app")
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"
    assert response.json()["documentation_url"].startswith("https://docs.github.com/")
    real_clock = gh.state.clock
    gh.state.clock = lambda: real_clock() + 3601
    try:
        assert gh.api(world.token).get("/repos/alice/app").status_code == 401
    finally:
        gh.state.clock = real_clock


def test_user_token_sees_what_the_user_may_see(world: World) -> None:
    gh = world.gh
    bob = gh.user("bob")
    assert gh.api(bob).get("/repos/alice/app").status_code == 404
    gh.call("PUT", "/repos/alice/app/permissions/bob", json={"permission": "read"})
    repo = gh.api(bob).get("/repos/alice/app").json()
    assert repo["permissions"]["pull"] is True
    assert repo["permissions"]["push"] is False
    assert gh.api(world.alice).get("/user").json()["login"] == "alice"
