"""``autostack demo``: the whole loop on a laptop, as a user would live it.

It starts ``autostack sandbox up`` (the sandbox GitHub and Argo CD) and ``autostack serve``
(the bot, on SQLite) as two processes on loopback, exactly as a user would in two
terminals, then plays the story: install the App, merge the onboarding pull requests,
merge to deploy to dev, ``/deploy prod`` from a pull request, a refusal, a bad release
rolled back automatically, and a summary. Every step checks what GitHub and the GitOps
repository show; a step that does not happen as described fails the demo with a non-zero
exit.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.envfile import ENV_FILE
from sandbox.processes import Child, ProcessError
from sandbox.serving import wait_until_stopped
from sandbox.testbed import Testbed, TestbedError

DEMO_APP = Path(__file__).resolve().parent / "demo_app"
SHOWN_TRAILERS = ("Env", "Source-Sha", "Requested-By", "Rollback-Of")
APP = "hello"
# Documented settings that make the watcher follow Argo CD quickly enough for a demo.
BOT_SETTINGS: dict[str, Any] = {"watch_interval_seconds": 0.5, "health_settle_seconds": 0.5}
Out = Callable[[str], None]
CRASH_LOG = [
    "Traceback (most recent call last):",
    '  File "/app/app.py", line 3, in <module>',
    "    from settings import DATABASE_URL",
    "ModuleNotFoundError: No module named 'settings'",
]


class Timeline:
    """Numbered steps with the time since the demo started."""

    def __init__(self, out: Out):
        self.out = out
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        self.out(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.out("")
        self.say(title)
        yield


def run(*, keep: bool, out: Out, stop: threading.Event | None = None) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="autostack-demo-"))
    timeline = Timeline(out)
    bed = Testbed(workdir, org="acme")
    try:
        Story(bed, timeline).play()
        timeline.say("Done: every step happened as described.")
        if keep:
            out(f"The demo's files are in {workdir}")
            _serve_until_stopped(bed, out, stop)
        return 0
    except (TestbedError, ProcessError, AssertionError) as exc:
        timeline.say(f"FAILED: {exc}")
        for child in (bed.sandbox_process, bed.bot_process):
            if child is not None:
                out(f"The last lines {child.name} printed ({child.log}):")
                out(child.tail(40))
        return 1
    finally:
        bed.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


class Story:
    def __init__(self, bed: Testbed, timeline: Timeline):
        self.bed = bed
        self.t = timeline

    def play(self) -> None:
        self.start()
        self.install()
        self.onboard()
        self.merge_to_deploy()
        self.deploy_prod()
        self.refuse_reader()
        self.bad_release()
        self.summary()

    # -- the steps ---------------------------------------------------------------------------

    def start(self) -> None:
        with self.t.step("Starting the sandbox and the bot, as you would in two terminals"):
            bed = self.bed
            bed.start_sandbox_process()
            assert bed.sandbox_process is not None
            self.t.say(f"pid {bed.sandbox_process.pid}: {_command(bed.sandbox_process)}")
            self.t.say(f"  GitHub {bed.github_url}, Argo CD {bed.argocd_url}")
            bot = bed.start_bot_process(**BOT_SETTINGS)
            settings = " ".join(
                f"{key}={value}" for key, value in bed.bot_env.items() if key not in bed.sandbox_env
            )
            env_file = bed.data_dir / ENV_FILE
            self.t.say(f"pid {bot.pid}: set -a; . {env_file}; set +a")
            self.t.say(f"  {settings} {_command(bot)}")
            self.t.say(f"  the bot is ready at {bed.bot_url} (/readyz: handlers, GitHub, Argo CD)")

    def install(self) -> None:
        with self.t.step("1. acme/hello (a small web app) and acme/gitops (autostack init)"):
            bed = self.bed
            files = {p.name: p.read_text() for p in sorted(DEMO_APP.iterdir()) if p.is_file()}
            files.pop("__init__.py", None)
            bed.create_repo(APP, files)
            bed.user("mia", repo=APP, permission="maintain")
            bed.user("mia", repo=bed.gitops_name, permission="admin")
            bed.user("dev", repo=APP, permission="write")
            bed.user("rita", repo=APP, permission="read")
            self.t.say("People: mia (maintainer), dev (writer), rita (read-only)")
            bed.install([APP, bed.gitops_name])
            self.t.say("The AutoStack App is installed on both repositories")
            bed.settle()

    def onboard(self) -> None:
        with self.t.step("2. The onboarding pull requests"):
            app_pr = self.pull(APP, "autostack/onboarding")
            gitops_pr = self.pull(self.bed.gitops_name, f"autostack/onboard-{APP}")
            stack = re.search(r"python[^\n|]*", app_pr["body"] or "")
            self.t.say(f"{APP}#{app_pr['number']}: {app_pr['title']} — detected {_text(stack)}")
            self.t.say(f"gitops#{gitops_pr['number']}: {gitops_pr['title']}")
            self.bed.merge(self.bed.gitops_name, gitops_pr["number"], user="mia")
            self.bed.merge(APP, app_pr["number"], user="mia")
            self.bed.settle()
            self.t.say("mia merged both")

    def merge_to_deploy(self) -> None:
        with self.t.step("3. A push to main builds and deploys to dev (merge-to-deploy)"):
            sha = self.bed.push(APP, {"VERSION": "1.1\n"}, "Say hello louder", user="mia")
            self.bed.build(APP, sha, branch="main")
            self.t.say(f"Build of {sha[:7]} succeeded; waiting for Argo CD to sync dev")
            self.wait_deployment("dev", sha, "success")
            self.t.say(f"dev runs ghcr.io/acme/{APP}:{sha[:7]}; the GitHub Deployment is success")

    def deploy_prod(self) -> None:
        with self.t.step("4. A pull request, approved, and /deploy prod from mia"):
            pr, sha = self.feature_pr("feature/greeting", {"GREETING": "hello, world\n"})
            self.comment(pr, "/deploy prod", "mia")
            gitops_pr = self.wait_pull(self.bed.gitops_name, f"autostack/{APP}-prod")
            self.t.say(f"GitOps pull request gitops#{gitops_pr['number']}: {gitops_pr['title']}")
            self.bed.merge(self.bed.gitops_name, gitops_pr["number"], user="mia")
            self.wait_deployment("prod", sha, "success")
            body = self.wait_comment(pr, "deployed")
            self.t.say("prod is healthy; the pull request comment shows:")
            for line in body.splitlines():
                if line.startswith("|"):
                    self.t.out(f"          {line}")
            self.prod_pr = pr

    def refuse_reader(self) -> None:
        with self.t.step("5. rita (read-only) comments /deploy prod"):
            self.comment(self.prod_pr, "/deploy prod", "rita")
            body = self.wait_comment(self.prod_pr, "refused")
            reason = next(line for line in body.splitlines() if line.startswith("@rita"))
            self.t.say(f"Refused: {reason}")

    def bad_release(self) -> None:
        with self.t.step("6. A bad release reaches prod"):
            pr, sha = self.feature_pr("feature/settings", {"settings.txt": "oops\n"})
            self.bed.argocd(
                "POST",
                "/bad-images",
                {"image": f"*:{sha}", "reason": "CrashLoopBackOff", "logLines": CRASH_LOG},
            )
            self.comment(pr, "/deploy prod", "mia")
            gitops_pr = self.wait_pull(self.bed.gitops_name, f"autostack/{APP}-prod")
            self.bed.merge(self.bed.gitops_name, gitops_pr["number"], user="mia")
            failed = self.wait_comment(pr, "ModuleNotFoundError")
            self.t.say("prod went Degraded; the comment shows the failing pod's log:")
            for line in failed.splitlines():
                if "Error" in line or "Traceback" in line:
                    self.t.out(f"          {line.strip()}")
            self.wait_comment(pr, "rolling it back")
            self.wait_comment(pr, ": deployed", marker="/rollback prod (automatic)")
            self.t.say("auto_rollback reverted the GitOps commit; prod is healthy again")

    def summary(self) -> None:
        with self.t.step("7. Summary"):
            bed = self.bed
            for env in ("dev", "staging", "prod"):
                latest = self.deployments(env)
                shown = f"{latest[0]['sha'][:7]} ({self.status_of(latest[0])})" if latest else "-"
                self.t.out(f"          {env:<8} {shown}")
            self.t.out("          GitOps history (newest first), with its trailers:")
            path = f"/repos/{bed.org}/{bed.gitops_name}/commits"
            for commit in bed.rest("GET", path, user="mia")[:8]:
                message = commit["commit"]["message"]
                self.t.out(f"            {commit['sha'][:7]} {message.splitlines()[0][:70]}")
                trailers = dict(re.findall(r"^Autostack-([A-Za-z-]+): (.*)$", message, re.M))
                found = [f"{k}={trailers[k]}" for k in SHOWN_TRAILERS if k in trailers]
                if found:
                    self.t.out(f"                    {' '.join(found)}")
            calls = bed.control("GET", "/requests")
            by_bot = [c for c in calls if c.get("auth") in ("installation", "app")]
            self.t.out(f"          GitHub API calls made by the bot: {len(by_bot)}")
            self.t.out(f"          Repositories on disk: {bed.data_dir / 'github' / 'git'}")

    # -- helpers -----------------------------------------------------------------------------

    def feature_pr(self, branch: str, files: dict[str, str]) -> tuple[int, str]:
        bed = self.bed
        sha = bed.push(APP, files, f"Change {branch}", branch=branch, user="dev")
        pr = bed.open_pull(APP, branch, f"Work on {branch}", user="dev")
        bed.build(APP, sha, branch=branch, event="pull_request")
        bed.rest(
            "POST",
            f"/repos/{bed.org}/{APP}/statuses/{sha}",
            user="mia",
            body={"state": "success", "context": "tests"},
        )
        bed.approve(APP, pr["number"], user="mia")
        self.t.say(f"{APP}#{pr['number']} by dev: built, tests green, approved by mia")
        return int(pr["number"]), sha

    def comment(self, number: int, body: str, user: str) -> None:
        self.bed.comment(APP, number, body, user=user)
        self.t.say(f"{user} on {APP}#{number}: {body}")

    def pull(self, repo: str, head: str) -> dict[str, Any]:
        pulls = self.bed.rest("GET", f"/repos/{self.bed.org}/{repo}/pulls", user="mia")
        found = [p for p in pulls if p["head"]["ref"] == head]
        assert found, f"no open pull request from {head} in {repo}"
        return dict(found[0])

    def wait_pull(self, repo: str, head: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            pulls = self.bed.rest("GET", f"/repos/{self.bed.org}/{repo}/pulls", user="mia")
            return next((p for p in pulls if p["head"]["ref"] == head), None)

        return dict(self.bed.wait_for(f"a pull request from {head} in {repo}", find))

    def wait_comment(self, number: int, text: str, marker: str = "") -> str:
        def find() -> str | None:
            path = f"/repos/{self.bed.org}/{APP}/issues/{number}/comments"
            bodies = [c["body"] for c in self.bed.rest("GET", path, user="mia")]
            return next((b for b in bodies if text in b and marker in b), None)

        return str(self.bed.wait_for(f"a comment on #{number} saying {text!r}", find, 45))

    def deployments(self, env: str) -> list[dict[str, Any]]:
        path = f"/repos/{self.bed.org}/{APP}/deployments?environment={env}"
        return list(self.bed.rest("GET", path, user="mia"))

    def status_of(self, deployment: dict[str, Any]) -> str:
        path = f"/repos/{self.bed.org}/{APP}/deployments/{deployment['id']}/statuses"
        statuses = self.bed.rest("GET", path, user="mia")
        return str(statuses[0]["state"]) if statuses else "none"

    def wait_deployment(self, env: str, sha: str, state: str) -> None:
        def reached() -> bool:
            ours = [d for d in self.deployments(env) if d["sha"] == sha]
            return bool(ours) and self.status_of(ours[0]) == state

        self.bed.wait_for(f"the {env} deployment of {sha[:7]} to be {state}", reached, 45)


def _command(child: Child) -> str:
    """The child's command line, with the console script's directory left out."""
    argv = [Path(child.argv[0]).name, *child.argv[1:]]
    return shlex.join(argv)


def _text(match: re.Match[str] | None) -> str:
    return match.group(0).strip(" `") if match else "?"


def _serve_until_stopped(bed: Testbed, out: Out, stop: threading.Event | None) -> None:
    out("")
    out("The sandbox keeps running (--keep). Try:")
    out(
        f"  curl {bed.github_url}/repos/{bed.org}/{APP}/deployments "
        f"-H 'Authorization: token {bed.users['mia']}'"
    )
    out(f"  git clone {bed.github_url}/{bed.org}/gitops.git   (user mia, token above)")
    out(f"  curl {bed.bot_url}/metrics")
    out("Press Ctrl-C to stop.")
    wait_until_stopped(stop, out)
