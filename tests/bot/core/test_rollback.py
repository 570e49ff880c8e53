"""Rollback planning over GitOps histories built from real deploy and rollback messages."""

from __future__ import annotations

import hashlib

import pytest

from bot.core.commands import Reply, RollbackTarget
from bot.core.rollback import HistoryEntry, RollbackPlan, plan_rollback
from bot.core.trailers import deploy_message, rollback_message


def sha_of(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def deploy(
    label: str, tag: str, deployment_id: int | None = None, env: str = "prod"
) -> HistoryEntry:
    """A deploy commit named ``label`` that put image tag ``tag`` in ``env``."""
    message = deploy_message(
        app="shop",
        env=env,
        image=f"ghcr.io/acme/shop:{tag}",
        source_repo="acme/shop",
        source_sha=sha_of(f"app-{tag}"),
        requested_by="alice",
        delivery=f"delivery-{label}",
    )
    return HistoryEntry.from_message(sha_of(label), message, deployment_id)


def revert(label: str, *reverted: HistoryEntry) -> HistoryEntry:
    message = rollback_message(
        app="shop",
        env="prod",
        reverted=[entry.sha for entry in reverted],
        target_image="ghcr.io/acme/shop:whatever",
        requested_by="bob",
        delivery=f"delivery-{label}",
    )
    return HistoryEntry.from_message(sha_of(label), message)


D1 = deploy("D1", "v1", 1)
D2 = deploy("D2", "v2", 2)
D3 = deploy("D3", "v3", 3)
R3 = revert("R3", D3)
R_R3 = revert("R-R3", R3)
HAND_REVERT_D3 = HistoryEntry.from_message(
    sha_of("hand"), f'Revert "deploy shop"\n\nThis reverts commit {D3.sha}.\n'
)
DEV = deploy("DEV", "v9", 9, env="dev")


def target(kind: str, value: str) -> RollbackTarget:
    return RollbackTarget(kind, value)  # type: ignore[arg-type]


# (history newest first, target, reverted commits newest first, target image)
PLANS: list[tuple[list[HistoryEntry], RollbackTarget | None, list[HistoryEntry], str]] = [
    ([D3, D2, D1], None, [D3], "v2"),
    ([D2, D1], None, [D2], "v1"),
    ([D3, D2, D1], target("deployment", "1"), [D3, D2], "v1"),
    ([D3, D2, D1], target("deployment", "2"), [D3], "v2"),
    ([R3, D3, D2, D1], target("deployment", "1"), [D2], "v1"),
    ([HAND_REVERT_D3, D3, D2, D1], target("deployment", "1"), [D2], "v1"),
    ([R_R3, R3, D3, D2, D1], None, [D3], "v2"),
    ([D3, D2, D1], target("sha", D1.sha[:7]), [D3, D2], "v1"),
    ([D3, D2, D1], target("sha", D2.sha), [D3], "v2"),
    ([D3, D2, D1], target("sha", sha_of("app-v1")[:10]), [D3, D2], "v1"),
    ([D3, D2, D1], target("tag", "v1"), [D3, D2], "v1"),
    ([DEV, D3, D2, D1], None, [D3], "v2"),
    ([deploy("D4", "v4", 4), R3, D3, D2, D1], None, [deploy("D4", "v4")], "v2"),
    ([deploy("D4", "v1", 4), D3, D2, D1], target("tag", "v2"), [deploy("D4", "v1"), D3], "v2"),
]


@pytest.mark.parametrize(("history", "goal", "reverted", "image"), PLANS)
def test_plans(
    history: list[HistoryEntry],
    goal: RollbackTarget | None,
    reverted: list[HistoryEntry],
    image: str,
) -> None:
    plan = plan_rollback(history, app="shop", env="prod", target=goal)
    assert isinstance(plan, RollbackPlan), plan
    assert plan.commits_to_revert == tuple(entry.sha for entry in reverted)
    assert plan.target_image == f"ghcr.io/acme/shop:{image}"


@pytest.mark.parametrize(("history", "goal", "reverted", "image"), PLANS)
def test_planning_again_after_the_revert_landed_finds_nothing(
    history: list[HistoryEntry],
    goal: RollbackTarget | None,
    reverted: list[HistoryEntry],
    image: str,
) -> None:
    plan = plan_rollback(history, app="shop", env="prod", target=goal)
    assert isinstance(plan, RollbackPlan)
    landed = revert("landed", *(e for e in history if e.sha in plan.commits_to_revert))
    again = plan_rollback([landed, *history], app="shop", env="prod", target=goal)
    assert isinstance(again, Reply)
    assert "Nothing to roll back" in again.text
    assert "already" in again.text


# (history, target, phrases of the reply)
REPLIES: list[tuple[list[HistoryEntry], RollbackTarget | None, list[str]]] = [
    ([], None, ["AutoStack has not deployed shop to prod"]),
    ([DEV], None, ["has not deployed shop to prod"]),
    ([D1], None, ["prod is at its first deployment, d-1 `ghcr.io/acme/shop:v1`"]),
    (
        [R3, D3, D2, D1],
        None,
        ["every deployment newer than d-2 `ghcr.io/acme/shop:v2`", "is already reverted"],
    ),
    ([R3, D3, D2, D1], target("deployment", "2"), ["every deployment newer than d-2"]),
    ([D3, D2, D1], target("deployment", "3"), ["prod is already at d-3"]),
    ([D3, D2, D1], target("tag", "v3"), ["prod is already at d-3"]),
    ([D3, D2, D1], target("deployment", "7"), ["No deployment matches `d-7`"]),
    ([D3, D2, D1], target("tag", "v0"), ["No deployment matches `v0`"]),
    ([D3, D2, D1], target("sha", "0000000"), ["No deployment matches `0000000`"]),
    ([R3, D3, D2, D1], target("deployment", "3"), ["was itself reverted by", "`/deploy prod"]),
    ([DEV, D3, D2, D1], target("deployment", "9"), ["No deployment matches `d-9`"]),
]


@pytest.mark.parametrize(("history", "goal", "phrases"), REPLIES)
def test_replies(
    history: list[HistoryEntry], goal: RollbackTarget | None, phrases: list[str]
) -> None:
    result = plan_rollback(history, app="shop", env="prod", target=goal)
    assert isinstance(result, Reply), result
    for phrase in phrases:
        assert phrase in result.text, (phrase, result.text)


def test_an_ambiguous_sha_prefix_asks_for_more_digits() -> None:
    twins = [
        HistoryEntry("abc1234" + "0" * 33, D2.trailers, deployment_id=5),
        HistoryEntry("abc1234" + "1" * 33, D1.trailers, deployment_id=4),
    ]
    result = plan_rollback(twins, app="shop", env="prod", target=target("sha", "abc1234"))
    assert isinstance(result, Reply)
    assert "matches 2 GitOps commits; give more digits" in result.text


def test_entries_read_reverted_commits_from_trailers_and_git_revert_lines() -> None:
    assert R3.reverts == (D3.sha,)
    assert HAND_REVERT_D3.reverts == (D3.sha,)
    assert not R3.is_deploy and D3.is_deploy
    assert not HAND_REVERT_D3.is_deploy
    assert D3.image == "ghcr.io/acme/shop:v3"
