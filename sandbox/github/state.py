"""The sandbox's persistent state: the App, accounts, tokens, installations, repositories.

``GitHubState.open(data_dir)`` keeps everything under ``data_dir``: ``github.db`` (SQLite),
``app-private-key.pem`` (0600) and the bare repositories under ``git/<owner>/<name>.git``.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.github import bare, shapes
from sandbox.github.accounting import RateLimiter, RequestLog
from sandbox.github.delivery import Dispatcher
from sandbox.github.faults import Faults
from sandbox.github.identity import AppIdentity, load_or_create_key, new_webhook_secret
from sandbox.github.store import Doc, Store
from sandbox.github.webhook_shapes import webhook_view

TOKEN_LIFETIME = 3600
PERMISSION_LEVELS = ["none", "read", "triage", "write", "maintain", "admin"]


class StateError(Exception):
    """A request the state refuses; ``status`` is the HTTP status GitHub would answer."""

    def __init__(self, status: int, message: str, errors: list[Doc] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def _random_token(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(36))


class GitHubState:
    """All of the sandbox GitHub's data, shared by the REST API, git HTTP and the control API."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time):
        self.data_dir = data_dir
        self.clock = clock
        self.git_root = data_dir / "git"
        self.store = Store(data_dir / "github.db")
        self.lock = self.store.lock
        self.faults = Faults()
        self.requests = RequestLog()
        self.rate = RateLimiter()
        self.public_url = "http://127.0.0.1"
        self.public_url_pinned = False
        self._key_pem = load_or_create_key(data_dir / "app-private-key.pem")
        self._ensure_app()
        self.webhooks = Dispatcher(self.store, self.app_doc, self.faults, clock)

    @classmethod
    def open(cls, data_dir: str | Path, clock: Callable[[], float] = time.time) -> GitHubState:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, clock)

    def set_public_url(self, url: str) -> None:
        """Fix the base of every URL the server hands out (else: the last request's Host)."""
        self.public_url = url.rstrip("/")
        self.public_url_pinned = True

    def close(self) -> None:
        self.webhooks.close()
        self.store.close()

    # --- the App -------------------------------------------------------------------
    def _ensure_app(self) -> None:
        if self.store.get("app", "app") is not None:
            return
        owner = (
            self.create_org("autostack-sandbox") if not self.account("autostack-sandbox") else None
        )
        app_id = 100000 + secrets.randbelow(900000)
        self.store.put(
            "app",
            "app",
            {
                "id": app_id,
                "slug": "autostack",
                "name": "AutoStack",
                "client_id": "Iv1." + secrets.token_hex(8),
                "client_secret": secrets.token_hex(20),
                "owner": (owner or self.account("autostack-sandbox") or {})["login"],
                "bot_id": self.store.next_id("account", 1000),
                "hook_id": 400000 + secrets.randbelow(100000),
                "webhook_secret": new_webhook_secret(),
                "webhook_url": None,
                "created_at": self.clock(),
            },
        )

    def app_doc(self) -> Doc:
        doc = self.store.get("app", "app")
        assert doc is not None
        return doc

    @property
    def identity(self) -> AppIdentity:
        app = self.app_doc()
        return AppIdentity(
            app["id"],
            app["slug"],
            app["name"],
            app["client_id"],
            self._key_pem,
            app["webhook_secret"],
        )

    @property
    def app_id(self) -> int:
        return int(self.app_doc()["id"])

    @property
    def app_slug(self) -> str:
        return str(self.app_doc()["slug"])

    @property
    def private_key_pem(self) -> str:
        return self._key_pem

    @property
    def private_key_path(self) -> Path:
        return self.data_dir / "app-private-key.pem"

    @property
    def webhook_secret(self) -> str:
        return str(self.app_doc()["webhook_secret"])

    @property
    def webhook_url(self) -> str | None:
        return self.app_doc().get("webhook_url")

    def set_webhook(self, url: str | None, secret: str | None = None) -> None:
        with self.lock:
            app = self.app_doc()
            app["webhook_url"] = url
            if secret:
                app["webhook_secret"] = secret
            self.store.put("app", "app", app)

    # --- accounts and tokens -------------------------------------------------------
    def account(self, login: str) -> Doc | None:
        return self.store.get("account", login.lower())

    def account_by_id(self, account_id: int) -> Doc | None:
        return next((a for a in self.store.list("account") if a["id"] == account_id), None)

    def _create_account(self, login: str, kind: str, **extra: Any) -> Doc:
        with self.lock:
            if self.account(login) is not None:
                raise StateError(422, f"account {login} already exists")
            doc = {
                "id": self.store.next_id("account", 1000),
                "login": login,
                "type": kind,
                "created_at": self.clock(),
                **extra,
            }
            return self.store.put("account", login.lower(), doc)

    def create_user(self, login: str, name: str | None = None, email: str | None = None) -> Doc:
        email = email or f"{login}@users.noreply.sandbox"
        return self._create_account(login, "User", name=name or login, email=email)

    def create_org(self, login: str) -> Doc:
        return self._create_account(login, "Organization")

    def issue_user_token(self, login: str) -> str:
        token = _random_token("ghp_")
        self.store.put("token", token, {"kind": "user", "login": login, "expires_at": None})
        return token

    def issue_installation_token(
        self, installation_id: int, repository_ids: list[int] | None = None
    ) -> Doc:
        inst = self.store.get("installation", installation_id)
        if inst is None:
            raise StateError(404, "Not Found")
        allowed = inst["repository_ids"]
        if repository_ids is not None and not set(repository_ids) <= set(allowed):
            raise StateError(
                422,
                "There is at least one repository that does not exist or is not accessible to "
                "the parent installation.",
            )
        doc = {
            "kind": "installation",
            "token": _random_token("ghs_"),
            "installation_id": installation_id,
            "repository_ids": repository_ids,
            "expires_at": self.clock() + TOKEN_LIFETIME,
        }
        self.store.put("token", doc["token"], doc)
        return doc

    def resolve_token(self, token: str) -> Doc | None:
        doc = self.store.get("token", token)
        if doc is None or (doc["expires_at"] is not None and doc["expires_at"] <= self.clock()):
            return None
        return doc

    def token_repository_ids(self, token: Doc) -> set[int]:
        """The repositories an installation token can reach right now."""
        inst = self.store.get("installation", token["installation_id"])
        if inst is None:
            return set()
        ids = set(inst["repository_ids"])
        if token.get("repository_ids") is not None:
            ids &= set(token["repository_ids"])
        return ids

    # --- repositories ---------------------------------------------------------------
    def repo(self, owner: str, name: str) -> Doc | None:
        return self.store.get("repo", f"{owner}/{name}".lower())

    def repo_by_id(self, repo_id: int) -> Doc | None:
        return next((r for r in self.store.list("repo") if r["id"] == repo_id), None)

    def repo_path(self, repo: Doc) -> Path:
        return self.git_root / repo["owner"] / f"{repo['name']}.git"

    def save_repo(self, repo: Doc) -> None:
        repo["updated_at"] = self.clock()
        self.store.put("repo", f"{repo['owner']}/{repo['name']}".lower(), repo)

    def create_repo(
        self,
        owner: str,
        name: str,
        private: bool = True,
        default_branch: str = "main",
        files: dict[str, str] | None = None,
        description: str | None = None,
        fork_of: Doc | None = None,
    ) -> Doc:
        with self.lock:
            acct = self.account(owner)
            if acct is None:
                raise StateError(404, f"no account {owner}")
            if self.repo(owner, name) is not None:
                raise StateError(422, "name already exists on this account")
            now = self.clock()
            repo = {
                "id": self.store.next_id("repo", 50000),
                "owner": acct["login"],
                "owner_id": acct["id"],
                "name": name,
                "private": private,
                "default_branch": default_branch,
                "description": description,
                "created_at": now,
                "updated_at": now,
                "pushed_at": None,
                "fork": fork_of is not None,
                "parent_id": fork_of["id"] if fork_of else None,
                "open_issues": 0,
            }
            path = self.repo_path(repo)
            bare.init_bare(path, default_branch)
            if fork_of is not None:
                source = self.repo_path(fork_of)
                bare.git(path, "fetch", "-q", str(source), "+refs/heads/*:refs/heads/*")
            elif files:
                person = bare.Person(acct.get("name") or acct["login"], acct.get("email") or "")
                data: dict[str, bytes | None] = {p: t.encode() for p, t in files.items()}
                sha = bare.commit_files(path, None, data, "Initial commit", person)
                bare.update_ref(path, f"refs/heads/{default_branch}", sha)
                repo["pushed_at"] = now
            self.save_repo(repo)
            self._add_to_all_selection(repo)
            return repo

    def _add_to_all_selection(self, repo: Doc) -> None:
        for inst in self.store.list("installation"):
            if inst["account_id"] == repo["owner_id"] and inst["repository_selection"] == "all":
                inst["repository_ids"].append(repo["id"])
                self.store.put("installation", inst["id"], inst)

    def set_permission(self, repo: Doc, login: str, permission: str) -> None:
        if permission not in PERMISSION_LEVELS:
            raise StateError(422, f"permission must be one of {PERMISSION_LEVELS}")
        self.store.put("permission", f"{repo['id']}:{login.lower()}", {"permission": permission})

    def permission_of(self, repo: Doc, login: str) -> str:
        if login.lower() == repo["owner"].lower():
            return "admin"
        doc = self.store.get("permission", f"{repo['id']}:{login.lower()}")
        if doc is not None:
            return str(doc["permission"])
        return "none" if repo["private"] else "read"

    def installation_for(self, repo: Doc) -> Doc | None:
        for inst in self.store.list("installation"):
            if repo["id"] in inst["repository_ids"]:
                return inst
        return None

    def installation_of_account(self, account_id: int) -> Doc | None:
        found = [i for i in self.store.list("installation") if i["account_id"] == account_id]
        return found[0] if found else None

    # --- webhooks -------------------------------------------------------------------
    def emit(
        self, event: str, action: str | None, body: Doc, repo: Doc | None, sender: Doc
    ) -> Doc | None:
        """Queue an App webhook about ``repo`` if the App is installed on it."""
        if event not in shapes.APP_EVENTS and not event.startswith("installation"):
            return None  # the App is not subscribed to it
        inst = self.installation_for(repo) if repo is not None else None
        if repo is not None and inst is None:
            return None
        payload: Doc = {"action": action} if action else {}
        payload.update(body)
        base = self.public_url
        if repo is not None and "repository" not in payload:
            payload["repository"] = self.repo_shape(repo)
        owner = self.account(repo["owner"]) if repo is not None else None
        if owner is not None and owner["type"] == "Organization":
            payload["organization"] = shapes.organization(base, owner)
        payload["sender"] = shapes.user(base, sender)
        if inst is not None:
            payload["installation"] = {
                "id": inst["id"],
                "node_id": shapes.node_id("Installation", inst["id"]),
            }
        return self.webhooks.enqueue(event, action, webhook_view(payload))

    def repo_shape(self, repo: Doc, permission: str | None = None, timestamps: str = "iso") -> Doc:
        owner = self.account(repo["owner"])
        assert owner is not None
        return shapes.repository(self.public_url, repo, owner, permission, timestamps)

    def user_shape(self, login: str) -> Doc:
        acct = self.account(login)
        if acct is None:
            raise StateError(404, "Not Found")
        return shapes.user(self.public_url, acct)

    def actor(self, principal_login: str | None) -> Doc:
        """The account that acts: a user, or the App's bot for installation tokens."""
        if principal_login:
            acct = self.account(principal_login)
            if acct is not None:
                return acct
        app = self.app_doc()
        login = f"{app['slug']}[bot]"
        email = f"{app['bot_id']}+{login}@users.noreply.github.com"
        return {"login": login, "id": app["bot_id"], "type": "Bot", "name": login, "email": email}
