"""Benchmark: the Argo CD watcher following 200 deployments across 100 apps, on loopback.

    python bench/following.py [--apps 100] [--spread 30] [--settle 5 0.5] [--quiet 30]
                              [--interval 2] [--landers 4] [--no-baseline]
                              [--github-latency MS]

Starts the sandbox GitHub and the sandbox Argo CD (``sandbox.testbed.Testbed``, in this
process) and onboards ``--apps`` apps into the GitOps repository in one commit: two
environments, ``dev`` and ``prod``, both ``landing: direct`` and ``auto_sync: true``; the
app repositories are made through the sandbox's control API. Then, per phase:
- one deployment per app and environment is requested through
  ``bot.deploy.engine.Deployer.request`` (what ``/deploy <env>`` does once authorized: a
  direct commit on the GitOps repository, a GitHub Deployment, a check run, a comment),
  against the bot's own database and adapters, with the watcher stopped: all of them are
  in flight at once, and Argo CD (which polls the repository only hourly here) has not
  seen any of them;
- the bot's watcher starts (``bot.watch.start_watcher``: passes on APScheduler, woken by
  Argo CD's watch stream) and follows them all to a verdict. Its first-sight
  ``refresh=normal`` calls (made by its refresher, off the passes) start the syncs, and
  each app turns Healthy ``--spread`` seconds after its sync, so the Healthy moments
  spread over as long as those refreshes take. With ``--github-latency MS`` every GitHub
  call while following takes MS milliseconds longer (the sandbox GitHub's latency fault),
  as a round trip to the real GitHub would.
Printed per phase, with the load average when following started and ended: the Argo CD
API calls the bot made (the sandbox Argo CD's request log) by route, per minute and per
window next to the deployments in flight; the GitHub REST calls the App's installations
made (the sandbox GitHub's request log) while landing and while following, by route and
per deployment; and the delay from the moment the sandbox Argo CD turned the Application
Healthy (``status.health.lastTransitionTime``) to the moment the sandbox GitHub recorded
the Deployment status ``success`` (``created_at``): p50, p90, max, over all deployments and
over those that turned Healthy after the watcher's last first-sight refresh. Both servers
serialise those times in whole seconds, as the real ones do; the benchmark reads the same
two timestamps at full precision from the servers' state.
The phases: the watch stream with each ``--settle`` (``health_settle_seconds``), a quiet
phase after the first (the watcher runs ``--quiet`` seconds with nothing changing), and a
polling-only baseline (``start_watcher(ctx, stream=False)``) with the last settle time.
Exits 1 if a deployment does not succeed; a missed target is only reported.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.argocd import ArgoCD  # noqa: E402
from bot.adapters.clock import SystemClock  # noqa: E402
from bot.adapters.github.adapter import GitHubAdapter  # noqa: E402
from bot.deploy.engine import Deployer  # noqa: E402
from bot.deploy.records import Deployment, DeploymentStore, NewDeployment  # noqa: E402
from bot.router import HandlerContext  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.watch import start_watcher  # noqa: E402
from generators.config import Environment, application_name  # noqa: E402
from generators.pipeline import GenerateRequest, generate  # noqa: E402
from generators.skeleton import skeleton_files  # noqa: E402
from sandbox.testbed import Testbed  # noqa: E402

ENVIRONMENTS = (
    Environment("dev", landing="direct", auto_sync=True),
    Environment("prod", landing="direct", auto_sync=True, replicas=2),
)
APP_SOURCE = ROOT / "sandbox" / "demo_app"
REGISTRY = "ghcr.io/acme"
TARGET_P50 = 2.0
LIST = "GET /api/v1/applications"
STREAM = "/api/v1/stream/applications"
COMMENT_EDIT = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"


@dataclass
class App:
    name: str
    sha: str  # the app commit the deployments build from
    issue: int  # where the "/deploy" comments go


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    settle: float
    stream: bool
    deployments: list[Deployment] = field(default_factory=list)
    landing_seconds: float = 0.0
    following_seconds: float = 0.0
    argo_routes: Counter[str] = field(default_factory=Counter)
    argo_windows: list[tuple[float, int, int, int]] = field(default_factory=list)
    github_landing: Counter[str] = field(default_factory=Counter)
    github_following: Counter[str] = field(default_factory=Counter)
    delays: list[float] = field(default_factory=list)
    # The delays of deployments that turned Healthy once the watcher had refreshed every
    # deployment it found on starting, i.e. with no backlog of first-sight refreshes.
    delays_after_refreshes: list[float] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    # The 1-minute load average when following started and when it ended: the machine is
    # shared, and the delays move with it.
    load: tuple[float, float] = (0.0, 0.0)


@dataclass
class Quiet:
    seconds: float
    argo: Counter[str]
    github: Counter[str]


# -- setup --------------------------------------------------------------------------------


def app_files() -> dict[str, str]:
    return {
        p.name: p.read_text() for p in sorted(APP_SOURCE.iterdir()) if p.suffix in (".py", ".txt")
    }


def onboard(bed: Testbed, count: int) -> list[App]:
    """``count`` app repositories, and their GitOps files pushed in one commit."""
    source = app_files()
    names = [f"app{index:03d}" for index in range(count)]
    clone_url = f"{bed.github_url}/{bed.org}/{bed.gitops_name}.git"
    apps = []
    with tempfile.TemporaryDirectory() as tmp:
        gitops = Path(tmp) / "gitops"
        for rel, data in skeleton_files(clone_url, ENVIRONMENTS).items():
            (gitops / rel).parent.mkdir(parents=True, exist_ok=True)
            (gitops / rel).write_bytes(data)
        for name in names:
            app_dir = Path(tmp) / name
            app_dir.mkdir()
            for rel, text in source.items():
                (app_dir / rel).write_text(text)
            request = GenerateRequest(
                app_dir=app_dir,
                gitops_dir=gitops,
                registry=REGISTRY,
                name=name,
                source_repo=f"{bed.org}/{name}",
            )
            generate(request).apply()
            bed.create_repo(name, {rel: (app_dir / rel).read_text() for rel in source})
            sha = bed.push(name, {"VERSION": "1\n"}, "Start")
            issue = bed.control("POST", f"/repos/{bed.org}/{name}/issues", {"title": "Deploy"})
            apps.append(App(name, sha, int(issue["number"])))
        files = {
            p.relative_to(gitops).as_posix(): p.read_text()
            for p in sorted(gitops.rglob("*"))
            if p.is_file()
        }
    bed.push(bed.gitops_name, files, f"Onboard {count} apps")
    return apps


# -- the bot ------------------------------------------------------------------------------


class Bot:
    """The bot's database and adapters, shared by the phases; each phase gets a context
    with its own settings and its own watcher."""

    def __init__(self, bed: Testbed):
        self.bed = bed
        self.settings = bed.bot_settings(workers=0)
        self.store = Store.open(self.settings.database_url.get_secret_value())
        self.store.migrate()
        clock = SystemClock()
        self.clock = clock
        github = GitHubAdapter.from_settings(self.settings, clock)
        self.argocd = ArgoCD.from_settings(self.settings, clock)
        self.services = Services(self.settings, github, argocd=self.argocd)
        self.records = DeploymentStore(self.store)
        self.refreshed_at: list[float] = []  # when each refresh=normal call was answered
        assert self.argocd is not None
        get_application = self.argocd.get_application

        def recording(name: str, refresh: Any = None) -> Any:
            status = get_application(name, refresh)
            if refresh:
                self.refreshed_at.append(time.time())
            return status

        self.argocd.get_application = recording  # type: ignore[method-assign]

    def context(self, settle: float, interval: float) -> HandlerContext:
        settings = self.settings.model_copy(
            update={"health_settle_seconds": settle, "watch_interval_seconds": interval}
        )
        return HandlerContext.build(settings, self.store, self.clock, services=self.services)


def deploy(bot: Bot, ctx: HandlerContext, app: App, env: str, tag: str) -> Deployment:
    new = NewDeployment(
        kind="deploy",
        app=app.name,
        env=env,
        app_repo=f"{bot.bed.org}/{app.name}",
        requested_by="bench",
        delivery_id=f"bench-{tag}-{app.name}-{env}",
        source_sha=app.sha,
        image=f"{REGISTRY}/{app.name}:{tag}",
        issue_number=app.issue,
        details={"command": f"/deploy {env}"},
    )
    return Deployer(ctx, bot.services).request(new)


# -- measuring ----------------------------------------------------------------------------


def github_calls(bed: Testbed, start: float, end: float) -> Counter[str]:
    """REST and git calls the App's installations made between ``start`` and ``end``."""
    assert bed.github_state is not None
    found: Counter[str] = Counter()
    for entry in bed.github_state.requests.entries():
        if entry["auth"] == "installation" and start <= entry["at"] < end:
            found[f"{entry['method']} {entry['route']}"] += 1
    return found


def healthy_at(bed: Testbed, deployment: Deployment) -> float | None:
    """When the sandbox Argo CD turned the Application Healthy (its lastTransitionTime)."""
    assert bed.argo_state is not None
    with bed.argo_state.lock:
        rec = bed.argo_state.records.get(application_name(deployment.app, deployment.env))
        if rec is None or rec.health_status != "Healthy" or rec.health_since is None:
            return None
        return rec.health_since.timestamp()


def success_at(bed: Testbed, deployment: Deployment) -> float | None:
    """When the sandbox GitHub recorded the Deployment status ``success``."""
    assert bed.github_state is not None
    if deployment.github_deployment_id is None:
        return None
    docs = bed.github_state.store.list("deployment_status", deployment.github_deployment_id)
    return next((float(d["created_at"]) for d in docs if d["state"] == "success"), None)


class ArgoSampler:
    """Every ``every`` seconds: how long the sandbox Argo CD's request log is, and how many
    deployments are in flight, so calls can be set against the load in each window."""

    def __init__(self, bed: Testbed, in_flight: Callable[[], int], every: float = 5.0):
        assert bed.argo_state is not None
        self.requests = bed.argo_state.requests
        self.in_flight = in_flight
        self.every = every
        self.samples: list[tuple[float, int, int]] = []  # (time, log length, in flight)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ArgoSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        self.samples.append((time.monotonic(), len(self.requests), self.in_flight()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)


# -- phases -------------------------------------------------------------------------------


def run_phase(
    bed: Testbed, bot: Bot, apps: list[App], phase: Phase, tag: str, args: argparse.Namespace
) -> Phase:
    """Land one deployment per app and environment, then start the watcher and follow them
    all to a verdict."""
    assert bed.argo_state is not None
    ctx = bot.context(phase.settle, args.interval)
    pairs = [(app, env.name) for app in apps for env in ENVIRONMENTS]
    started = time.time()
    with ThreadPoolExecutor(args.landers) as pool:
        made = list(pool.map(lambda pair: deploy(bot, ctx, pair[0], pair[1], tag), pairs))
    landed = time.time()
    phase.landing_seconds = landed - started
    phase.github_landing = github_calls(bed, started, landed)
    ids = {d.id for d in made}

    def in_flight() -> int:
        return sum(1 for d in bot.records.find(states={"syncing"}) if d.id in ids)

    bed.argo_state.requests.clear()
    if args.github_latency:
        # Every GitHub call while following takes as long as a round trip to the real one.
        latency = {"kind": "latency", "route": "/repos/*", "latency_ms": args.github_latency}
        bed.control("POST", "/faults", latency)
    sampler = ArgoSampler(bed, in_flight, args.window).start()
    load_before = os.getloadavg()[0]
    stop = start_watcher(ctx, stream=phase.stream)
    try:
        deadline = time.monotonic() + args.spread + args.timeout
        while in_flight() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop()
        sampler.stop()
        bed.control("DELETE", "/faults", {})
    ended = time.time()
    phase.load = (load_before, os.getloadavg()[0])
    phase.following_seconds = ended - landed
    phase.deployments = [d for d in (bot.records.get(i) for i in sorted(ids)) if d is not None]
    phase.states = Counter(d.state for d in phase.deployments)
    # A watch stream is logged when it ends; an earlier phase's may end during this one.
    routes = [f"{r.method} {r.route}" for r in bed.argo_state.requests if r.route != STREAM]
    phase.argo_routes = Counter(routes)
    phase.argo_windows = windows(sampler.samples, routes)
    phase.github_following = github_calls(bed, landed, ended)
    refreshes_done = max((t for t in bot.refreshed_at if t >= landed), default=landed)
    for deployment in phase.deployments:
        healthy, success = healthy_at(bed, deployment), success_at(bed, deployment)
        if healthy is not None and success is not None:
            phase.delays.append(success - healthy)
            if healthy > refreshes_done:
                phase.delays_after_refreshes.append(success - healthy)
    return phase


def windows(
    samples: list[tuple[float, int, int]], routes: list[str]
) -> list[tuple[float, int, int, int]]:
    """(seconds, deployments in flight at the start, list calls, other calls) per window."""
    found = []
    for (t0, n0, flying), (t1, n1, _) in itertools.pairwise(samples):
        chunk = routes[n0:n1]
        lists = sum(1 for r in chunk if r == LIST)
        found.append((t1 - t0, flying, lists, len(chunk) - lists))
    return found


def quiet_phase(bed: Testbed, bot: Bot, args: argparse.Namespace) -> Quiet:
    """The watcher runs with nothing in flight and nothing changing."""
    assert bed.argo_state is not None
    bed.argo_state.requests.clear()
    stop = start_watcher(bot.context(5.0, args.interval))
    started = time.time()
    time.sleep(args.quiet)
    ended = time.time()
    stop()
    routes = Counter(f"{r.method} {r.route}" for r in bed.argo_state.requests if r.route != STREAM)
    return Quiet(ended - started, routes, github_calls(bed, started, ended))


# -- report -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def print_phase(phase: Phase, bed: Testbed) -> None:
    n = len(phase.deployments)
    print(f"\n== {phase.name}")
    print(
        f"{n} deployments: {dict(phase.states)}; landed in {phase.landing_seconds:.0f} s "
        f"before the watcher started, followed in {phase.following_seconds:.0f} s "
        f"(load average {phase.load[0]:.1f} -> {phase.load[1]:.1f})"
    )
    healthy = [t for d in phase.deployments if (t := healthy_at(bed, d)) is not None]
    if healthy:
        print(f"Healthy moments spread over {max(healthy) - min(healthy):.0f} s")
    argo = sum(phase.argo_routes.values())
    minutes = phase.following_seconds / 60
    print(f"Argo CD calls by the bot: {argo}, {argo / minutes:.0f}/min")
    for route, count in phase.argo_routes.most_common():
        print(f"  {count:6d}  {count / minutes:6.0f}/min  {route}")
    print("  per window:  seconds  in flight  list calls  other calls")
    for seconds, flying, lists, other in phase.argo_windows:
        print(f"              {seconds:7.1f}  {flying:9d}  {lists:10d}  {other:11d}")
    for label, calls in (("landing", phase.github_landing), ("following", phase.github_following)):
        total = sum(calls.values())
        print(f"GitHub calls by the App while {label}: {total}, {total / max(n, 1):.2f}/deployment")
        for route, count in calls.most_common():
            print(f"  {count:6d}  {route}")
    edits = phase.github_following[COMMENT_EDIT]
    print(
        f"  per deployment: 1 Deployment status, 1 check run, {edits / max(n, 1):.1f} comment "
        "edits (one per change of Argo CD's sync, health or revision, one for the verdict)"
    )
    delays = phase.delays
    if delays:
        print(
            f"Healthy -> GitHub success: n={len(delays)}  p50 {percentile(delays, 0.5):.2f} s  "
            f"p90 {percentile(delays, 0.9):.2f} s  max {max(delays):.2f} s  "
            f"(settle {phase.settle:g} s)"
        )
    after = phase.delays_after_refreshes
    if after:
        print(
            f"  of which Healthy after the last first-sight refresh: n={len(after)}  "
            f"p50 {percentile(after, 0.5):.2f} s  p90 {percentile(after, 0.9):.2f} s  "
            f"max {max(after):.2f} s"
        )


def print_summary(phases: list[Phase]) -> None:
    print("\n== summary")
    print(
        f"{'phase':40} | p50 s | p90 s | max s | p50 s, no backlog "
        "| Argo CD/min | GitHub/deployment"
    )
    for phase in phases:
        delays = phase.delays or [float("nan")]
        argo = sum(phase.argo_routes.values()) / (phase.following_seconds / 60)
        github = sum(phase.github_following.values()) / max(len(phase.deployments), 1)
        steady = percentile(phase.delays_after_refreshes or [float("nan")], 0.5)
        print(
            f"{phase.name:40} | {percentile(delays, 0.5):5.2f} | {percentile(delays, 0.9):5.2f} "
            f"| {max(delays):5.2f} | {steady:17.2f} | {argo:11.0f} | {github:17.2f}"
        )
    streamed = [p for p in phases if p.stream and p.delays]
    if streamed:
        best = min(percentile(p.delays, 0.5) for p in streamed)
        verdict = "met" if best < TARGET_P50 else "missed"
        print(f"target: p50 under {TARGET_P50:g} s with the watch stream: {verdict} ({best:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--apps", type=int, default=100, help="apps, each with dev and prod")
    parser.add_argument("--spread", type=float, default=30.0, help="seconds Progressing")
    parser.add_argument("--settle", type=float, nargs="+", default=[5.0, 0.5])
    parser.add_argument("--interval", type=float, default=2.0, help="watch_interval_seconds")
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds of the quiet phase")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per call window")
    parser.add_argument("--landers", type=int, default=4, help="threads requesting deployments")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the polling phase")
    parser.add_argument(
        "--github-latency",
        type=int,
        default=0,
        metavar="MS",
        help="milliseconds added to each GitHub call while following (a real round trip)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    slow = f", GitHub +{args.github_latency} ms" if args.github_latency else ""
    plan = [Phase(f"stream, settle {s:g} s{slow}", s, True) for s in args.settle]
    if not args.no_baseline:
        last = args.settle[-1]
        plan.append(Phase(f"polling, settle {last:g} s{slow}", last, False))
    with tempfile.TemporaryDirectory(prefix="bench-following-") as tmp:
        # Argo CD polls the repository hourly here (the real default is every 3 minutes),
        # so only the bot's refresh=normal after a landing moves an Application on.
        bed = Testbed(Path(tmp), progressing_seconds=args.spread, argocd_poll_seconds=3600.0)
        try:
            began = time.monotonic()
            bed.start_github()
            bed.create_gitops()
            bed.start_argocd()
            apps = onboard(bed, args.apps)
            installation = bed.install([app.name for app in apps] + [bed.gitops_name])
            assert bed.argo_state is not None
            bed.argo_state.poll_now()
            print(
                f"onboarded {len(apps)} apps ({len(bed.argo_state.records)} Applications) "
                f"in {time.monotonic() - began:.0f} s"
            )
            bot = Bot(bed)
            for index, phase in enumerate(plan):
                # Each phase spends about 2,100 of the installation's 5,000 calls an hour.
                body = {"installation_id": installation, "remaining": 5000}
                bed.control("PUT", "/rate-limit", body)
                run_phase(bed, bot, apps, phase, f"v{index + 2}", args)
                print_phase(phase, bed)
                if index == 0 and args.quiet > 0:
                    quiet = quiet_phase(bed, bot, args)
                    print(
                        f"\n== quiet: {quiet.seconds:.0f} s, nothing in flight or changing: "
                        f"Argo CD {dict(quiet.argo) or 0}, GitHub {dict(quiet.github) or 0}"
                    )
            print_summary(plan)
            print(f"\ntotal {time.monotonic() - began:.0f} s")
        finally:
            bed.stop()
    failed = [d for p in plan for d in p.deployments if d.state != "succeeded"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
