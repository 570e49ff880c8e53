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
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from sandbox.testbed import Testbed
from tests.reliability.story import Effects, Killer, effects, launch, play

# (what the bot is doing, method, route or path pattern, which call), in the loop's order.
POINTS = [
    ("reacting to the command", "POST", "*/issues/comments/*/reactions", 1),
    ("reading the commenter's permission", "GET", "*/collaborators/*/permission", 1),
    ("reading the pull request, reviews and checks", "POST", "/graphql", 1),
    ("looking for the build", "GET", "*/actions/runs", 1),
    ("looking for its comment", "GET", "*/issues/*/comments", 1),
    ("posting its comment", "POST", "*/issues/*/comments", 1),
    ("cloning the GitOps repository", "GET", "*/gitops.git/info/refs", 1),
    ("fetching the GitOps repository", "POST", "*/gitops.git/git-upload-pack", 1),
    ("pushing the GitOps branch", "POST", "*/gitops.git/git-receive-pack", 1),
    ("opening the GitOps pull request", "POST", "*/pulls", 1),
    ("editing its comment (1st)", "PATCH", "*/issues/comments/*", 1),
    ("editing its comment (2nd)", "PATCH", "*/issues/comments/*", 2),
    ("editing its comment (3rd)", "PATCH", "*/issues/comments/*", 3),
    ("editing its comment (5th)", "PATCH", "*/issues/comments/*", 5),
    ("editing its comment (8th)", "PATCH", "*/issues/comments/*", 8),
    ("reading permission after the merge", "GET", "*/collaborators/*/permission", 3),
    ("reading GraphQL after the merge", "POST", "/graphql", 3),
    ("creating the GitHub Deployment", "POST", "*/deployments", 1),
    ("setting the Deployment in_progress", "POST", "*/deployments/*/statuses", 1),
    ("setting the Deployment success", "POST", "*/deployments/*/statuses", 2),
    ("creating the check run", "POST", "*/check-runs", 1),
    ("completing the check run", "PATCH", "*/check-runs/*", 1),
    ("reacting to a later webhook", "POST", "*/issues/comments/*/reactions", 3),
    ("cloning again after the merge", "GET", "*/gitops.git/info/refs", 2),
    ("fetching again after the merge", "POST", "*/gitops.git/git-upload-pack", 2),
]
QUICK = {"pushing the GitOps branch", "creating the GitHub Deployment", "editing its comment (3rd)"}
REPORT = os.environ.get("AUTOSTACK_RELIABILITY_REPORT")


def ids() -> list[str]:
    return [point[0].replace(" ", "-") for point in POINTS]


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
    name = doing.replace(" ", "-")
    row = {
        "scenario": f"SIGKILL while {doing}",
        "call": f"{method} {route} #{nth}",
        "expected": asdict(expected),
        "observed": asdict(observed),
        "seconds": round(seconds, 1),
        "reproduce": f"pytest tests/reliability/test_kills.py -m reliability -k '{name}'",
    }
    with open(REPORT, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
