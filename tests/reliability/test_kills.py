"""SIGKILL ``autostack serve`` at many points of one deployment's loop, restart it as the
README does, and compare what GitHub and the GitOps repository show with an uninterrupted
run: no delivery lost, no GitOps change, pull request, Deployment status, check run or
comment duplicated or missing.

Each point holds the App's Nth call to one GitHub route (GitHub receives it, the bot never
sees the answer) and kills the bot there. ``make reliability`` runs every point and writes
docs/reliability.md; ``make test`` runs the ``QUICK`` ones."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from sandbox.testbed import Testbed
from tests.reliability.story import Effects, Killer, effects, launch, play

# (what the bot is doing, method, route or path pattern, which call), in the loop's order:
# first a merge to main deployed to dev (a direct commit), then /deploy prod (a pull request).
GITOPS = "*/gitops.git"
POINTS = [
    ("reading the GitOps refs for dev", "GET", f"{GITOPS}/info/refs", 1),
    ("fetching the GitOps repository for dev", "POST", f"{GITOPS}/git-upload-pack", 1),
    ("pushing dev's commit to main", "POST", f"{GITOPS}/git-receive-pack", 1),
    ("creating dev's Deployment", "POST", "*/deployments", 1),
    ("setting dev's Deployment in_progress", "POST", "*/deployments/*/statuses", 1),
    ("creating dev's check run", "POST", "*/check-runs", 1),
    ("setting dev's Deployment success", "POST", "*/deployments/*/statuses", 2),
    ("completing dev's check run", "PATCH", "*/check-runs/*", 1),
    ("reacting to the command", "POST", "*/issues/comments/*/reactions", 1),
    ("reading the commenter's permission", "GET", "*/collaborators/*/permission", 1),
    ("reading the pull request, reviews and checks", "POST", "/graphql", 1),
    ("looking for the build", "GET", "*/actions/runs", 1),
    ("looking for its comment", "GET", "*/issues/*/comments", 1),
    ("posting its comment", "POST", "*/issues/*/comments", 1),
    ("reading the GitOps refs for prod", "GET", f"{GITOPS}/info/refs", 2),
    ("fetching the GitOps repository for prod", "POST", f"{GITOPS}/git-upload-pack", 2),
    ("pushing the GitOps branch", "POST", f"{GITOPS}/git-receive-pack", 2),
    ("opening the GitOps pull request", "POST", "*/pulls", 1),
    ("editing its comment (1st)", "PATCH", "*/issues/comments/*", 1),
    ("editing its comment (2nd)", "PATCH", "*/issues/comments/*", 2),
    ("editing its comment (3rd)", "PATCH", "*/issues/comments/*", 3),
    ("editing its comment (4th)", "PATCH", "*/issues/comments/*", 4),
    ("editing its comment (5th)", "PATCH", "*/issues/comments/*", 5),
    ("creating prod's Deployment", "POST", "*/deployments", 2),
    ("setting prod's Deployment in_progress", "POST", "*/deployments/*/statuses", 3),
    ("creating prod's check run", "POST", "*/check-runs", 2),
    ("setting prod's Deployment success", "POST", "*/deployments/*/statuses", 4),
    ("completing prod's check run", "PATCH", "*/check-runs/*", 2),
]
QUICK = {"pushing the GitOps branch", "creating prod's Deployment", "editing its comment (3rd)"}
REPORT = os.environ.get("AUTOSTACK_RELIABILITY_REPORT")
EVERY = "reliability or not reliability"  # the marker expression that selects every point


def point_id(doing: str) -> str:
    """``doing`` as a test id that a shell passes to ``-k`` unquoted."""
    return re.sub(r"[^A-Za-z0-9]+", "-", doing).strip("-")


def ids() -> list[str]:
    return [point_id(point[0]) for point in POINTS]


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Effects:
    """The uninterrupted run's effects."""
    root = tmp_path_factory.mktemp("baseline")
    bed = launch(root / "bed")
    try:
        run = play(bed)
        time.sleep(1.0)  # anything the bot still does after the story shows up
        return effects(bed, run, root)
    finally:
        bed.stop()


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Testbed]:
    testbed = launch(tmp_path / "bed")
    try:
        yield testbed
    finally:
        testbed.stop()


def selected() -> list[object]:
    marks = []
    for point, name in zip(POINTS, ids(), strict=True):
        quick = point[0] in QUICK
        mark = () if quick else (pytest.mark.reliability,)
        marks.append(pytest.param(*point, marks=mark, id=name))
    return marks


@pytest.mark.parametrize(("doing", "method", "route", "nth"), selected())
def test_a_kill_changes_nothing_but_time(
    bed: Testbed, expected: Effects, tmp_path: Path, doing: str, method: str, route: str, nth: int
) -> None:
    killer = Killer(bed, method, route, nth)
    killer.start()
    started = time.monotonic()
    run = play(bed)
    killer.join(30)
    assert killer.error is None, killer.error
    assert killer.killed.is_set(), f"the bot never made call {nth} to {method} {route}"
    time.sleep(1.0)
    observed = effects(bed, run, tmp_path)
    record(doing, method, route, nth, expected, observed, time.monotonic() - started)
    assert observed == expected


def record(
    doing: str,
    method: str,
    route: str,
    nth: int,
    expected: Effects,
    observed: Effects,
    seconds: float,
) -> None:
    if not REPORT:
        return
    name = point_id(doing)
    row = {
        "scenario": f"SIGKILL while {doing}",
        "call": f"{method} {route} #{nth}",
        "expected": asdict(expected),
        "observed": asdict(observed),
        "seconds": round(seconds, 1),
        "reproduce": f"pytest tests/reliability/test_kills.py -m '{EVERY}' -k {name}",
    }
    with open(REPORT, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
