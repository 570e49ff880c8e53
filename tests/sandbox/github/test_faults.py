"""Injected faults: errors, rate limits, latency and dropped connections, as configured."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.sandbox.github.conftest import World


def test_first_n_requests_fail_with_5xx(world: World) -> None:
    gh = world.gh
    gh.call(
        "POST",
        "/faults",
        json={"kind": "error", "route": "/repos/{owner}/{repo}", "status": 503, "first": 2},
    )
    api = gh.api(world.token)
    statuses = [api.get("/repos/alice/app").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert api.get("/repos/alice/app/pulls").status_code == 200  # other routes unaffected


def test_every_nth_and_reset(world: World) -> None:
    gh = world.gh
    gh.call(
        "POST", "/faults", json={"kind": "error", "method": "GET", "route": "/repos/*", "every": 2}
    )
    api = gh.api(world.token)
    assert [api.get("/repos/alice/app").status_code for _ in range(4)] == [200, 502, 200, 502]
    gh.call("DELETE", "/faults")
    assert api.get("/repos/alice/app").status_code == 200


def test_primary_rate_limit(world: World) -> None:
    gh = world.gh
    gh.call(
        "POST",
        "/faults",
        json={"kind": "rate_limit", "route": "/repos/{owner}/{repo}/pulls", "first": 1},
    )
    response = gh.api(world.token).get("/repos/alice/app/pulls")
    assert response.status_code == 403
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) > time.time()
    assert "rate limit" in response.json()["message"]


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit(world: World, status: int) -> None:
    gh = world.gh
    gh.call(
        "POST",
        "/faults",
        json={"kind": "secondary_rate_limit", "status": status, "retry_after": 7, "first": 1},
    )
    response = gh.api(world.token).get("/repos/alice/app")
    assert response.status_code == status
    assert response.headers["retry-after"] == "7"
    assert response.json()["message"].startswith("You have exceeded a secondary rate limit")


def test_latency_and_dropped_connections(world: World) -> None:
    gh = world.gh
    gh.call(
        "POST",
        "/faults",
        json={"kind": "latency", "route": "/repos/{owner}/{repo}", "latency_ms": 300, "first": 1},
    )
    api = gh.api(world.token)
    started = time.monotonic()
    assert api.get("/repos/alice/app").status_code == 200
    assert time.monotonic() - started >= 0.3
    gh.call(
        "POST",
        "/faults",
        json={"kind": "drop", "route": "/repos/{owner}/{repo}/issues", "first": 1},
    )
    with pytest.raises(httpx.TransportError):
        api.get("/repos/alice/app/issues")
    assert api.get("/repos/alice/app/issues").status_code == 200


def test_budget_counts_down_and_runs_out(world: World) -> None:
    gh = world.gh
    api = gh.api(world.token)
    first = api.get("/repos/alice/app")
    second = api.get("/repos/alice/app")
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert first.headers["x-ratelimit-limit"] == "5000"
    assert int(second.headers["x-ratelimit-remaining"]) == remaining - 1
    assert int(second.headers["x-ratelimit-used"]) == 5000 - remaining + 1
    gh.call("PUT", "/rate-limit", json={"installation_id": world.installation, "remaining": 0})
    exhausted = api.get("/repos/alice/app")
    assert exhausted.status_code == 403
    assert (
        exhausted.json()["message"]
        == f"API rate limit exceeded for installation ID {world.installation}."
    )
