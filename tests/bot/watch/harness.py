"""A bot with its watcher against the sandbox Argo CD, a real GitOps repository and the
shared fake GitHub, all on one FakeClock.

The GitOps repository is what ``autostack init`` and ``autostack generate`` make for the
``shop`` app, pushed to a bare remote that the sandbox Argo CD reads and the bot commits
to. Every landing is ``direct`` (the fake GitHub cannot merge real pull requests) and prod
rolls back automatically. The sandbox's controller thread is kept asleep: tests move its
clock and run its passes themselves, so what it does is ordered with the watcher's passes.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bot.adapters.argocd import ArgoCD, CircuitBreaker
from bot.adapters.clock import FakeClock
from bot.deploy.engine import Deployer
from bot.deploy.records import Deployment, DeploymentStore, NewDeployment
from bot.router import HandlerContext
from bot.services import Services
from bot.settings import Settings
from bot.store import Store
from bot.watch import Watcher
from generators import initrepo
from generators.pipeline import GenerateRequest, generate
from sandbox.argocd import ArgoState, create_app
from sandbox.serving import ThreadedServer
from tests.fakes.github import FakeGitHub, fake_sha
from tests.support.argocd_swagger import validate_argocd_request, validate_argocd_response

APP_SOURCE = Path(__file__).resolve().parents[3] / "sandbox" / "demo_app"
APP = "shop"
APP_REPO = "acme/shop"
GITOPS_REPO = "acme/gitops"
REGISTRY = "ghcr.io/acme"
PROGRESSING_SECONDS = 5
GIT_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Pat Person",
    "GIT_AUTHOR_EMAIL": "pat@example.com",
    "GIT_COMMITTER_NAME": "Pat Person",
    "GIT_COMMITTER_EMAIL": "pat@example.com",
}
STREAMED = ("/logs", "/stream/applications")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def generated_tree(root: Path) -> Path:
    """The GitOps files ``autostack init`` + ``autostack generate shop`` make, with every
    environment landing directly and an ingress domain for environment URLs."""
    app_dir, gitops = root / "app", root / "gitops"
    shutil.copytree(APP_SOURCE, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    initrepo.init_repository(gitops, repo_url="https://github.example/acme/gitops.git")
    request = GenerateRequest(
        app_dir=app_dir, gitops_dir=gitops, registry=REGISTRY, name=APP, source_repo=APP_REPO
    )
    generate(request).apply()
    config = gitops / "autostack.yaml"
    text = config.read_text()
    for landing in ("landing: pr", "landing: auto-merge"):
        text = text.replace(landing, "landing: direct")
    text = text.replace("  # domain: example.com", "  domain: example.com")
    config.write_text(text)
    shutil.rmtree(gitops / ".git")
    return gitops


class CheckingTransport(httpx.BaseTransport):
    """Real HTTP, with every request (and every non-streamed answer) checked against
    Argo CD's swagger; the test fails on any violation."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.problems: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        query = {k: (v[0] if len(v) == 1 else v) for k in params for v in [params.get_list(k)]}
        where = f"{request.method} {request.url.path}"
        body = request.read() or None
        found = validate_argocd_request(request.method, request.url.path, query, body)
        self.problems += [f"{where}: {p}" for p in found]
        response = self.inner.handle_request(request)
        if request.url.path.endswith(STREAMED):
            return response
        content = response.read()
        found = validate_argocd_response(
            request.method, request.url.path, response.status_code, content
        )
        self.problems += [f"answer to {where}: {p}" for p in found]
        return httpx.Response(response.status_code, headers=response.headers, content=content)


class Bot:
    """The pieces a watcher pass touches, and helpers that move the world on."""

    def __init__(self, root: Path, template: Path, store: Store, clock: FakeClock):
        self.root, self.store, self.clock = root, store, clock
        self.remote = root / "gitops.git"
        self.work = root / "gitops-work"
        shutil.copytree(template, self.work)
        git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        git(self.work, "init", "--quiet", "--initial-branch=main")
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "-m", "Initialise the GitOps repository")
        git(self.work, "remote", "add", "origin", self.remote.as_uri())
        git(self.work, "push", "--quiet", "origin", "main")
        self.argo = ArgoState(
            root / "argocd",
            self.remote.as_uri(),
            poll_interval=3600,
            progressing_seconds=PROGRESSING_SECONDS,
            clock=clock,
            worker_interval=3600,
        )
        self.server = ThreadedServer(create_app(self.argo)).start()
        self.transport = CheckingTransport()
        self.argocd = ArgoCD(
            self.server.url,
            self.argo.token,
            clock=clock,
            breaker=CircuitBreaker(clock, failure_threshold=5, cooldown_seconds=30),
            sleep=lambda _: None,
            transport=self.transport,
        )
        self.github = FakeGitHub()
        info = self.github.add_repo(GITOPS_REPO)
        self.github.repos[GITOPS_REPO] = replace(info, clone_url=self.remote.as_uri())
        self.github.add_repo(APP_REPO)
        self.settings = Settings(
            github_app_id=1234,
            webhook_secret=SecretStr("not-used-here"),
            gitops_repo=GITOPS_REPO,
            data_dir=root / "data",
            workers=0,
            argocd_url=self.server.url,
            argocd_token=SecretStr(self.argo.token),
        )
        self.services = Services(self.settings, self.github, argocd=self.argocd)
        self.ctx = HandlerContext.build(self.settings, store, clock, services=self.services)
        self.records = DeploymentStore(store)
        self.argo.poll_now()
        self.settle()
        self.advance(PROGRESSING_SECONDS)

    # -- the world ---------------------------------------------------------------------------

    def settle(self) -> None:
        """Let the sandbox run the syncs that were asked for, then one controller pass."""
        self.argo.wait_idle()
        self.argo.tick()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def control(self, path: str, body: Any = None, method: str = "POST") -> None:
        response = httpx.request(
            method, f"{self.server.url}/_sandbox/{path}", json=body, timeout=10
        )
        assert response.status_code == 200, response.text

    def requests(self, method: str, route: str) -> int:
        return sum(1 for r in self.argo.requests if (r.method, r.route) == (method, route))

    def status(self, env: str) -> dict[str, Any]:
        return self.argo.application(f"{APP}-{env}")

    def person_sets_tag(self, env: str, tag: str) -> str:
        """Someone edits the overlay by hand and pushes: a deployment AutoStack did not make."""
        git(self.work, "pull", "--quiet", "--ff-only", "origin", "main")
        path = self.work / "apps" / APP / "overlays" / env / "kustomization.yaml"
        text = path.read_text()
        start = text.index("newTag:")
        end = text.index("\n", start)
        path.write_text(f"{text[:start]}newTag: {tag}{text[end:]}")
        git(self.work, "commit", "--quiet", "-am", f"Hand-deploy {tag} to {env}")
        git(self.work, "push", "--quiet", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")

    # -- the bot -----------------------------------------------------------------------------

    def watcher(self, **options: Any) -> Watcher:
        options.setdefault("settle_seconds", 3)
        return Watcher(self.ctx, self.services, **options)

    def deploy(self, env: str, tag: str, *, issue: int = 7, kind: str = "deploy") -> Deployment:
        """What ``/deploy <env>`` does once authorized: the engine lands it and it syncs."""
        new = NewDeployment(
            kind=kind,
            app=APP,
            env=env,
            app_repo=APP_REPO,
            requested_by="alice",
            delivery_id=f"delivery-{env}-{tag}",
            source_sha=fake_sha(tag),
            image=f"{REGISTRY}/{APP}:{tag}",
            issue_number=issue,
            details={"command": f"/deploy {env}"},
        )
        return Deployer(self.ctx, self.services).request(new)

    def get(self, deployment: Deployment) -> Deployment:
        found = self.records.get(deployment.id)
        assert found is not None
        return found

    def tick(self, watcher: Watcher) -> None:
        """One watcher pass, then the refreshes it asked for (made on other threads)."""
        watcher.tick()
        assert watcher.refresher.wait_idle(10), "refreshes still running after 10 s"

    def run(
        self,
        watcher: Watcher,
        done: Callable[[], bool],
        *,
        step: float = 1.0,
        max_steps: int = 60,
    ) -> int:
        """Watcher pass and its refreshes, sandbox catches up, time moves ``step``; until
        ``done``. Returns the number of passes."""
        for passes in range(1, max_steps + 1):
            self.tick(watcher)
            if done():
                return passes
            self.settle()
            self.advance(step)
        raise AssertionError(f"not done after {max_steps} passes")

    def close(self) -> None:
        self.argocd.close()
        self.argo.stop()
        self.server.stop()
        assert self.transport.problems == [], self.transport.problems


def until_state(bot: Bot, deployment: Deployment, *states: str) -> Callable[[], bool]:
    return lambda: bot.get(deployment).state in states


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
