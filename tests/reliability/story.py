"""One deployment's whole loop, driven from outside the bot as people drive it: a pull
request, approved and checked, ``/deploy prod`` from a maintainer, the GitOps pull request
merged, Argo CD syncing, the outcome reported. ``autostack serve`` runs as a child process
that a test may kill and restart at any point; what GitHub and the GitOps repository show
afterwards is its ``Effects``, compared with an uninterrupted run's."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.testbed import Testbed, TestbedError
from tests.e2e.conftest import APP_FILES, QUICK_WATCH
from tests.e2e.lookout import Person, gitops_history, stored_deliveries

# A killed worker's lease lapses in a second, so the restarted bot takes its delivery over.
BOT_SETTINGS: dict[str, Any] = {**QUICK_WATCH, "delivery_lease_seconds": 1.0}
STORY_TIMEOUT = 90.0


def launch(data_dir: Path) -> Testbed:
    """The sandbox and ``autostack serve`` as processes, the shop app onboarded, its
    people, and the App installed."""
    bed = Testbed(data_dir)
    try:
        bed.start_sandbox_process()
        bed.onboard("shop", APP_FILES)
        bed.start_bot_process(**BOT_SETTINGS)
        for repo in ("shop", bed.gitops_name):
            bed.user("mia", repo=repo, permission="maintain")
        bed.user("dev", repo="shop", permission="write")
        bed.install(["shop", bed.gitops_name])
        bed.settle()
    except BaseException:
        bed.stop()  # no process outlives a launch that failed half-way
        raise
    return bed


@dataclass
class Run:
    """What the story made, to find its effects by."""

    pull: int
    sha: str
    main: str


def play(bed: Testbed) -> Run:
    """The story, waiting only on what GitHub shows, so a bot restart in the middle only
    makes it wait longer: a merge to main deploys to dev, then a pull request goes to prod
    by ``/deploy prod``."""
    mia = Person(bed, "mia")
    try:
        main = bed.push("shop", {"VERSION": "2\n"}, "Bump the version", user="mia")
        bed.build("shop", main, branch="main")
        wait(bed, "dev to be deployed", lambda: deployed(mia, "dev", main))
        sha = bed.push("shop", {"feature.txt": "new\n"}, "Add a feature", branch="feature")
        pull = int(bed.open_pull("shop", "feature", "Add a feature", user="dev")["number"])
        bed.build("shop", sha, branch="feature", event="pull_request")
        bed.approve("shop", pull, user="mia")
        mia.set_status("shop", sha, "success")
        bed.comment("shop", pull, "/deploy prod", user="mia")
        [gitops_pull] = wait(bed, "the prod GitOps pull request", lambda: open_pulls(mia))
        bed.merge(bed.gitops_name, gitops_pull["number"], user="mia")
        wait(bed, "prod to be reported deployed", lambda: reported_success(mia, sha, pull))
        return Run(pull, sha, main)
    finally:
        mia.close()


def wait(bed: Testbed, what: str, check: Any) -> Any:
    return bed.wait_for(what, lambda: _quietly(check), timeout=STORY_TIMEOUT, interval=0.2)


def _quietly(check: Any) -> Any:
    try:
        return check()
    except TestbedError:
        return None


def open_pulls(person: Person) -> list[dict[str, Any]]:
    return person.pulls("gitops", "open")


def deployed(person: Person, env: str, sha: str) -> bool:
    """The newest status of ``sha``'s Deployment to ``env`` is success."""
    deployments = person.get("shop/deployments", environment=env)
    ours = [d for d in deployments if d["sha"] == sha]
    if not ours:
        return False
    states = [s["state"] for s in person.get(f"shop/deployments/{ours[0]['id']}/statuses")]
    return bool(states) and states[0] == "success"


def reported_success(person: Person, sha: str, pull: int) -> bool:
    answered = any(": deployed" in body for body in person.answers("shop", pull))
    return answered and deployed(person, "prod", sha)


@dataclass
class Effects:
    """Everything the story changed where people see it, without ids and timestamps."""

    gitops_commits: list[tuple[str, ...]] = field(default_factory=list)
    gitops_pulls: list[tuple[str, str]] = field(default_factory=list)
    deployments: dict[str, list[str]] = field(default_factory=dict)
    check_runs: list[tuple[str, str, str]] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)
    comment_endings: list[str] = field(default_factory=list)
    dead_deliveries: list[str] = field(default_factory=list)


def effects(bed: Testbed, run: Run, scratch: Path) -> Effects:
    mia = Person(bed, "mia")
    try:
        history = gitops_history(bed, scratch / f"clone-{time.monotonic_ns()}")
        commits = [
            tuple(
                f"{key}={','.join(values)}".replace(run.sha, "<sha>").replace(run.main, "<main>")
                for key, values in sorted(entry["trailers"].items())
                if key not in ("Autostack-Delivery",)
            )
            for entry in history
            if entry["trailers"]
        ]
        pulls = sorted((p["head"]["ref"], p["state"]) for p in mia.pulls("gitops"))
        deployments: dict[str, list[str]] = {}
        for deployment in mia.get("shop/deployments"):
            statuses = mia.get(f"shop/deployments/{deployment['id']}/statuses")
            key = f"{deployment['environment']}@{deployment['sha'][:7]}"
            deployments[key] = sorted(s["state"] for s in statuses)
        checks = sorted(
            (r["name"], r["status"], r["conclusion"] or "")
            for sha in (run.main, run.sha)
            for r in mia.get(f"shop/commits/{sha}/check-runs")["check_runs"]
        )
        answers = mia.command_comments("shop", run.pull)
        endings = sorted(_outcome(bodies[-1]) for bodies in answers.values())
        dead = [f"{d.event}: {d.last_error}" for d in stored_deliveries(bed) if d.state == "dead"]
        return Effects(
            gitops_commits=commits,
            gitops_pulls=pulls,
            deployments=deployments_by_env(deployments),
            check_runs=checks,
            comments=sorted(len(bodies) for bodies in answers.values()),
            comment_endings=endings,
            dead_deliveries=dead,
        )
    finally:
        mia.close()


def _outcome(body: str) -> str:
    """What a command's comment says in the end, without links, times and ids."""
    for word in ("deployed", "failed", "refused", "queued", "waiting"):
        if word in body.lower():
            return word
    return "other"


def deployments_by_env(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """Deployments keyed by environment only (the sha differs from run to run)."""
    by_env: dict[str, list[str]] = {}
    for key, states in sorted(found.items()):
        env = key.split("@")[0]
        by_env.setdefault(env, []).append(",".join(states))
    return {env: sorted(values) for env, values in by_env.items()}


def bot_calls(bed: Testbed) -> Counter[tuple[str, str]]:
    """The App's own GitHub calls so far, by method and route."""
    return Counter(
        (r["method"], r["route"])
        for r in bed.control("GET", "/requests")
        if r.get("auth") in ("installation", "app")
    )


class Killer(threading.Thread):
    """Holds the App's ``nth`` call to ``method route`` for ``hold`` seconds, SIGKILLs the bot
    while GitHub is still answering it, then restarts the bot as the README does, and
    redelivers the webhooks that found it down (as an operator does from the App's
    Recent Deliveries page)."""

    def __init__(self, bed: Testbed, method: str, route: str, nth: int = 1, hold: float = 2.0):
        super().__init__(daemon=True)
        self.bed, self.hold = bed, hold
        rule = {"kind": "latency", "method": method, "route": route, "caller": "app"}
        when = {"first": 1} if nth == 1 else {"every": nth}
        self.rule = bed.control("POST", "/faults", {**rule, **when, "latency_ms": hold * 1000})
        self.killed = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + STORY_TIMEOUT
            while not self._fired():
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)
            self.bed.stop_bot(kill=True)
            self.killed.set()
            time.sleep(self.hold)  # what GitHub received before the kill is answered by now
            self.bed.control("DELETE", "/faults", {})
            self.bed.start_bot_process(**BOT_SETTINGS)
            redeliver_failed(self.bed)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _fired(self) -> bool:
        rules = self.bed.control("GET", "/faults")
        return any(r["id"] == self.rule["id"] and r["fired"] for r in rules)


def redeliver_failed(bed: Testbed) -> int:
    """Redeliver every webhook the bot did not acknowledge; returns how many."""
    deliveries = bed.control("GET", "/webhooks/deliveries")
    answered = {d["guid"] for d in deliveries if d["status_code"] in (200, 202)}
    failed = [d for d in deliveries if d["guid"] not in answered]
    seen: set[str] = set()
    for delivery in failed:
        if delivery["guid"] not in seen:
            seen.add(delivery["guid"])
            bed.control("POST", f"/webhooks/deliveries/{delivery['id']}/redeliver")
    return len(seen)
