"""A whole AutoStack installation on loopback: the sandbox GitHub, the sandbox Argo CD and
the bot, wired the way a real installation is (webhooks, clone URLs, tokens).

Two ways to start it. ``start_sandbox_process()`` and ``start_bot_process()`` run
``autostack sandbox up`` and ``autostack serve`` as child processes configured only
through documented settings, as a user runs them: the demo and the end-to-end tests use
them. ``start_github()``, ``start_argocd()`` and ``start_bot()`` serve the same apps in
this process, for component tests that look inside (``autostack sandbox up`` itself runs
the first two). Acting as people goes through the sandbox GitHub's control API either
way, exactly as the tests of a real installation would click through GitHub.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from generators.skeleton import skeleton_files
from sandbox.argocd import ArgoState
from sandbox.argocd import create_app as argocd_app
from sandbox.envfile import ENV_FILE, read_env_file
from sandbox.github import GitHubState
from sandbox.github import create_app as github_app
from sandbox.processes import (
    Child,
    autostack_argv,
    clean_environment,
    queue_depth,
    wait_for_file,
    wait_until_ready,
)
from sandbox.serving import ThreadedServer, free_port

Files = Mapping[str, str]


class TestbedError(RuntimeError):
    """A step of the testbed did not happen as it should."""


class Testbed:
    """Start with ``start_github()``, ``create_gitops()``, ``start_argocd()``, ``start_bot()``
    (or ``start()`` for all of them); stop with ``stop()``."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        data_dir: Path,
        *,
        org: str = "acme",
        gitops_name: str = "gitops",
        progressing_seconds: float = 0.3,
        argocd_poll_seconds: float = 0.5,
    ):
        self.data_dir = Path(data_dir)
        self.org = org
        self.gitops_name = gitops_name
        self.progressing_seconds = progressing_seconds
        self.argocd_poll_seconds = argocd_poll_seconds
        self.github_state: GitHubState | None = None
        self.argo_state: ArgoState | None = None
        self.bot_app: Any = None
        self._servers: list[ThreadedServer] = []
        self._bot_server: ThreadedServer | None = None
        self._http: httpx.Client | None = None
        self.github_url = self.argocd_url = self.bot_url = ""
        self.users: dict[str, str] = {}  # login -> personal token
        self.sandbox_process: Child | None = None
        self.bot_process: Child | None = None
        self.sandbox_env: dict[str, str] = {}  # the sandbox process's autostack.env
        self.bot_env: dict[str, str] = {}  # what the bot process was started with
        self._bot_port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, **bot_settings: Any) -> Testbed:
        self.start_github()
        self.create_gitops()
        self.start_argocd()
        self.start_bot(**bot_settings)
        return self

    def start_github(self, port: int | None = None) -> None:
        self.github_state = GitHubState.open(self.data_dir / "github")
        server = self._serve(github_app(self.github_state), port)
        self.github_url = server.url
        self.github_state.public_url = server.url  # before any request has told it
        self._http = httpx.Client(base_url=server.url, timeout=60.0)

    def create_gitops(self) -> dict[str, Any]:
        """The organisation, its GitOps repository (as ``autostack init`` makes it) and the
        Argo CD service account that reads it."""
        assert self.github_state is not None, "start_github() first"
        if self.github_state.account(self.org) is None:
            self.control("POST", "/orgs", {"login": self.org})
        existing = self.github_state.repo(self.org, self.gitops_name)
        if existing is not None:  # a restart over the same data keeps everything
            self.users.setdefault("argocd", self._token_file("argocd", self._new_user_token))
            return dict(self.github_state.repo_shape(existing))
        repo = self.create_repo(self.gitops_name, {"README.md": "# GitOps\n"})
        files = skeleton_files(repo["clone_url"], default_branch=repo["default_branch"])
        self.push(self.gitops_name, {k: v.decode() for k, v in files.items()}, "autostack init")
        self._save_token("argocd", self.user("argocd", repo=self.gitops_name, permission="read"))
        return repo

    def start_argocd(self, port: int | None = None) -> None:
        clone_url = f"{self.github_url}/{self.org}/{self.gitops_name}.git"
        self.argo_state = ArgoState(
            self.data_dir / "argocd",
            clone_url,
            tokens=[self._token_file("argocd-api", lambda: secrets.token_urlsafe(32))],
            repo_username="argocd",
            repo_password=self.users["argocd"],
            poll_interval=self.argocd_poll_seconds,
            progressing_seconds=self.progressing_seconds,
        )
        self.argocd_url = self._serve(argocd_app(self.argo_state), port).url

    def bot_settings(self, **overrides: Any) -> Any:
        from bot.settings import Settings

        app = self.control("GET", "/app")
        values: dict[str, Any] = {
            "github_api_url": self.github_url,
            "github_url": self.github_url,
            "github_app_id": app["id"],
            "github_private_key": app["private_key_pem"],
            "webhook_secret": app["webhook_secret"],
            "gitops_repo": f"{self.org}/{self.gitops_name}",
            "argocd_url": self.argocd_url or None,
            "argocd_token": self.argo_state.token if self.argo_state else None,
            "database_url": f"sqlite:///{self.data_dir / 'bot' / 'autostack.db'}",
            "data_dir": self.data_dir / "bot",
            "workers": 2,
        }
        values.update(overrides)
        return Settings(**values)

    def bot_environment(self) -> dict[str, str]:
        """The documented ``AUTOSTACK_*`` settings that point a bot at these sandboxes."""
        app = self.control("GET", "/app")
        assert self.argo_state is not None, "start_argocd() first"
        return {
            "AUTOSTACK_GITHUB_API_URL": self.github_url,
            "AUTOSTACK_GITHUB_URL": self.github_url,
            "AUTOSTACK_GITHUB_APP_ID": str(app["id"]),
            "AUTOSTACK_GITHUB_PRIVATE_KEY_FILE": str(app["private_key_path"]),
            "AUTOSTACK_WEBHOOK_SECRET": str(app["webhook_secret"]),
            "AUTOSTACK_GITOPS_REPO": f"{self.org}/{self.gitops_name}",
            "AUTOSTACK_ARGOCD_URL": self.argocd_url,
            "AUTOSTACK_ARGOCD_TOKEN": self.argo_state.token,
        }

    def start_bot(self, on_start: tuple[Any, ...] | None = None, **overrides: Any) -> None:
        from bot.wiring import build_app

        settings = self.bot_settings(**overrides)
        self.bot_app = build_app(settings, idle_wait=0.05, on_start=on_start)
        self._bot_server = self._serve(self.bot_app)
        self.bot_url = self._bot_server.url
        self.control("PUT", "/webhook", {"url": f"{self.bot_url}/webhooks/github"})

    # -- as child processes, the way users run AutoStack --------------------------------------

    def start_sandbox_process(self) -> None:
        """``autostack sandbox up`` on free ports, sending webhooks to where the bot process
        will listen; this testbed then acts on it over HTTP only."""
        self._bot_port = self._bot_port or free_port()
        env_file = self.data_dir / ENV_FILE
        env_file.unlink(missing_ok=True)  # a restart writes it again once it is up
        argv = autostack_argv(
            "sandbox", "up", "--data", str(self.data_dir), "--github-port", "0",
            "--argocd-port", "0", "--webhook-url", f"{self._bot_url()}/webhooks/github",
        )  # fmt: skip
        log = self.data_dir / "logs" / "sandbox.log"
        self.sandbox_process = Child("autostack sandbox up", argv, env=clean_environment(), log=log)
        self.sandbox_process.start()
        wait_for_file(env_file, self.sandbox_process)
        self.attach_sandbox()

    def attach_sandbox(self) -> None:
        """Act on the ``autostack sandbox up`` whose data dir is this testbed's, through its
        ``autostack.env`` and its HTTP APIs only."""
        self.sandbox_env = read_env_file(self.data_dir / ENV_FILE)
        self.github_url = self.sandbox_env["AUTOSTACK_GITHUB_API_URL"]
        self.argocd_url = self.sandbox_env["AUTOSTACK_ARGOCD_URL"]
        self._http = httpx.Client(base_url=self.github_url, timeout=60.0)
        self.users["argocd"] = (self.data_dir / "tokens" / "argocd").read_text().strip()

    def start_bot_process(
        self,
        *,
        argv: list[str] | None = None,
        environment: Mapping[str, str] | None = None,
        user: int | None = None,
        cwd: Path | None = None,
        **settings: Any,
    ) -> Child:
        """``autostack serve`` with the sandbox's ``autostack.env``, a data dir of its own and
        ``settings`` as ``AUTOSTACK_<NAME>`` variables; returns once ``/readyz`` says ready.

        To run the bot as the container image or ``deploy/`` does, ``argv`` replaces the
        command line, ``environment`` the whole environment (nothing is inherited), and
        ``user`` and ``cwd`` set its user id and working directory."""
        env = {
            **self.sandbox_env,
            "AUTOSTACK_DATA_DIR": str(self.data_dir / "bot"),
            **{f"AUTOSTACK_{name.upper()}": str(value) for name, value in settings.items()},
        }
        self.bot_env = dict(environment) if environment is not None else env
        command = argv or autostack_argv("serve", "--port", str(self._bot_port))
        log = self.data_dir / "logs" / "serve.log"
        full_env = dict(environment) if environment is not None else clean_environment(env)
        self.bot_process = Child(
            "autostack serve", command, env=full_env, log=log, user=user, cwd=cwd
        )
        self.bot_process.start()
        self.bot_url = self._bot_url()
        wait_until_ready(self.bot_url, self.bot_process)
        return self.bot_process

    def _bot_url(self) -> str:
        return f"http://127.0.0.1:{self._bot_port}"

    @property
    def bot_port(self) -> int:
        assert self._bot_port is not None, "start_sandbox_process() first"
        return self._bot_port

    def bot_database_url(self) -> str:
        """The bot process's database: SQLite in its data dir unless it was given one."""
        default = f"sqlite:///{(self.data_dir / 'bot' / 'autostack.db').resolve()}"
        return self.bot_env.get("AUTOSTACK_DATABASE_URL", default)

    def stop_bot(self, *, kill: bool = False) -> None:
        """Stop the bot (SIGTERM, or SIGKILL with ``kill``; in-process, its server's lifespan
        stops the workers and the watcher). GitHub and Argo CD stay up, so the bot can be
        started again on the same database."""
        if self.bot_process is not None:
            process, self.bot_process = self.bot_process, None
            if kill:
                process.kill()
            else:
                process.stop()
            return
        server, self._bot_server = self._bot_server, None
        if server is None:
            return
        self._servers.remove(server)
        server.stop()
        self.bot_app = None

    def stop(self) -> None:
        for child in (self.bot_process, self.sandbox_process):
            if child is not None:
                child.stop()
        if self.argo_state is not None:
            self.argo_state.stop()  # ends open watch streams so uvicorn stops at once
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self._http is not None:
            self._http.close()
        if self.github_state is not None:
            self.github_state.close()

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- acting like people ------------------------------------------------------------------

    def control(
        self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201)
    ) -> Any:
        """Call the sandbox GitHub's control API; a 404 within ``ok`` answers None."""
        assert self._http is not None, "start_github() first"
        response = self._http.request(method, f"/_sandbox{path}", json=body)
        if response.status_code not in ok:
            raise TestbedError(f"{method} /_sandbox{path}: {response.status_code} {response.text}")
        return None if response.status_code == 404 else response.json()

    def user(self, login: str, *, repo: str | None = None, permission: str | None = None) -> str:
        """A person (created once) with ``permission`` on ``repo``; returns their token."""
        if login not in self.users:
            self.users[login] = self.control("POST", "/users", {"login": login})["token"]
        if repo and permission:
            self.control(
                "PUT", f"/repos/{self.org}/{repo}/permissions/{login}", {"permission": permission}
            )
        return self.users[login]

    def create_repo(self, name: str, files: Files, *, private: bool = True) -> dict[str, Any]:
        body = {"owner": self.org, "name": name, "private": private, "files": dict(files)}
        return dict(self.control("POST", "/repos", body))

    def push(
        self,
        repo: str,
        files: Files,
        message: str,
        *,
        branch: str | None = None,
        user: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"files": dict(files), "message": message}
        if branch:
            body["branch"] = branch
        if user:
            body["user"] = user
        return str(self.control("POST", f"/repos/{self.org}/{repo}/push", body)["sha"])

    def onboard(self, name: str, files: Files) -> dict[str, Any]:
        """An app repository whose onboarding pull requests were merged: its Dockerfile and
        workflow in the app repo, its base, overlays and Applications in the GitOps repo."""
        import tempfile

        from generators.pipeline import GenerateRequest, generate

        repo = self.create_repo(name, files)
        with tempfile.TemporaryDirectory() as tmp:
            app_dir, gitops_dir = Path(tmp) / name, Path(tmp) / "gitops"
            for root, tree in ((app_dir, files), (gitops_dir, self._gitops_skeleton())):
                for rel, text in tree.items():
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    (root / rel).write_text(text)
            result = generate(
                GenerateRequest(
                    app_dir=app_dir,
                    gitops_dir=gitops_dir,
                    registry=f"ghcr.io/{self.org}",
                    source_repo=f"{self.org}/{name}",
                )
            )
        app_files = {c.path: c.new.decode() for c in result.app_changes.writes}
        gitops_files = {c.path: c.new.decode() for c in result.gitops_changes.writes}
        self.push(name, app_files, "Set up AutoStack deployments")
        self.push(self.gitops_name, gitops_files, f"Onboard {result.spec.name}")
        return repo

    def _gitops_skeleton(self) -> dict[str, str]:
        clone_url = f"{self.github_url}/{self.org}/{self.gitops_name}.git"
        return {k: v.decode() for k, v in skeleton_files(clone_url).items()}

    def install(self, repos: list[str]) -> int:
        body = {"account": self.org, "repositories": repos}
        return int(self.control("POST", "/installations", body)["id"])

    def comment(self, repo: str, number: int, body: str, *, user: str) -> dict[str, Any]:
        path = f"/repos/{self.org}/{repo}/issues/{number}/comments"
        return dict(self.control("POST", path, {"body": body, "user": user}))

    def open_pull(self, repo: str, head: str, title: str, *, user: str) -> dict[str, Any]:
        body = {"head": head, "title": title, "user": user}
        return dict(self.control("POST", f"/repos/{self.org}/{repo}/pulls", body))

    def merge(self, repo: str, number: int, *, user: str) -> str:
        path = f"/repos/{self.org}/{repo}/pulls/{number}/merge"
        return str(self.control("POST", path, {"user": user})["sha"])

    def approve(self, repo: str, number: int, *, user: str) -> None:
        path = f"/repos/{self.org}/{repo}/pulls/{number}/reviews"
        self.control("POST", path, {"user": user, "event": "APPROVE"})

    def build(
        self,
        repo: str,
        sha: str,
        *,
        conclusion: str = "success",
        branch: str | None = None,
        event: str = "push",
    ) -> dict[str, Any]:
        """Simulate the app's ``AutoStack build`` workflow finishing for ``sha``."""
        body = {"sha": sha, "conclusion": conclusion, "event": event}
        if branch:
            body["branch"] = branch
        return dict(self.control("POST", f"/repos/{self.org}/{repo}/ci", body))

    def rest(self, method: str, path: str, *, user: str, body: Any = None) -> Any:
        """A GitHub REST call made as ``user`` (with their personal token)."""
        assert self._http is not None, "start_github() first"
        response = self._http.request(
            method, path, json=body, headers={"Authorization": f"token {self.users[user]}"}
        )
        if response.status_code >= 400:
            raise TestbedError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def argocd(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sandbox Argo CD's control API (``/_sandbox/...``)."""
        response = httpx.request(method, f"{self.argocd_url}/_sandbox{path}", json=body)
        if response.status_code >= 400:
            raise TestbedError(f"{method} /_sandbox{path}: {response.status_code}")
        return response.json()

    # -- waiting -----------------------------------------------------------------------------

    def settle(self, timeout: float = 30.0) -> None:
        """Until every webhook is delivered and the bot's queue is empty."""
        deadline = time.monotonic() + timeout
        while True:
            self.control("POST", "/webhooks/flush", ok=(200,))
            if self._bot_idle():
                return
            if time.monotonic() > deadline:
                raise TestbedError(f"the bot did not settle within {timeout:.0f}s")
            time.sleep(0.05)

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1
    ) -> Any:
        """Poll ``check`` until it returns something truthy; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TestbedError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def _bot_idle(self) -> bool:
        if self.bot_process is not None:
            self.bot_process.check_alive()
            depth = queue_depth(httpx.get(f"{self.bot_url}/metrics", timeout=10.0).text)
            return not any(depth.get(state) for state in ("queued", "running", "failed"))
        if self.bot_app is None:
            return True
        queue = getattr(self.bot_app.state, "queue", None)
        if queue is None:
            return False
        counts = queue.counts()
        return not counts.get("queued") and not counts.get("running") and not counts.get("failed")

    def _new_user_token(self) -> str:
        return str(self.control("POST", "/users/argocd/tokens")["token"])

    def _token_file(self, name: str, make: Callable[[], str]) -> str:
        """A token kept (owner-only) in the data dir, so a restart reuses it."""
        path = self.data_dir / "tokens" / name
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        token = make()
        self._save_token(name, token)
        return token

    def _save_token(self, name: str, token: str) -> None:
        path = self.data_dir / "tokens" / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(token + "\n")

    def _serve(self, app: Any, port: int | None = None) -> ThreadedServer:
        server = ThreadedServer(app, port=port).start()
        self._servers.append(server)
        return server
