"""``GitHubAdapter``: the ``GitHub`` port over PyGithub, authenticated as a GitHub App.

PyGithub is synchronous and blocks on the network: call the adapter from a worker thread
(the queue's workers, or ``run_in_threadpool``), never on the event loop. One adapter is
shared by all workers; its caches are thread-safe.
"""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta
from typing import Any

from github import GithubIntegration

from bot.adapters.clock import Clock
from bot.adapters.github.auth import CachedToken, ClockedAppAuth, InstallationTokens, TokenAuth
from bot.adapters.github.client import (
    TIMEOUT_SECONDS,
    USER_AGENT,
    Api,
    RateCallback,
    guard_pygithub_logging,
    make_github,
    path,
    repo_path,
)
from bot.adapters.github.errors import Unprocessable
from bot.adapters.github.queries import (
    COMMIT_CHECKS,
    MAX_PAGES,
    PULL,
    CommitPages,
    PullPages,
    graphql_url,
)
from bot.adapters.github.reporting import Reporting
from bot.adapters.github.shapes import (
    app_credentials,
    latest_build,
    permission_of,
    repo_info,
)
from bot.core.errors import PermanentError
from bot.ports import (
    BUILD_WORKFLOW_NAME,
    AppCredentials,
    BuildRun,
    ChecksState,
    MergeMethod,
    NotFound,
    Permission,
    PullFacts,
    PullInfo,
    Reaction,
    RepoInfo,
)
from bot.settings import Settings

REPO_TTL = timedelta(minutes=5)
CREDENTIALS_TTL = timedelta(minutes=1)


class GitHubAdapter(Reporting):
    """Everything the bot does on GitHub; see ``bot.ports.GitHub`` for the contract."""

    def __init__(
        self,
        api_url: str,
        app_id: int,
        private_key: str,
        clock: Clock,
        *,
        on_rate_limit: RateCallback | None = None,
        repo_ttl: timedelta = REPO_TTL,
    ):
        guard_pygithub_logging()
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url(self.api_url)
        self.app_id = app_id
        self.clock = clock
        self.rate_limit_remaining: int | None = None
        self._on_rate_limit = on_rate_limit
        self._repo_ttl = repo_ttl
        integration = GithubIntegration(
            auth=ClockedAppAuth(app_id, private_key, clock),
            base_url=self.api_url,
            timeout=TIMEOUT_SECONDS,
            user_agent=USER_AGENT,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        # App-level calls have their own rate limit, so they do not feed the metric.
        self._app_api = Api(integration.requester, clock)
        self._tokens = InstallationTokens(clock, self._find_installation, self._mint_token)
        self._apis: dict[int, Api] = {}
        self._repos: dict[str, tuple[RepoInfo, datetime]] = {}
        self._lock = threading.Lock()
        self._credentials_ok_until: datetime | None = None
        super().__init__()

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Clock, on_rate_limit: RateCallback | None = None
    ) -> GitHubAdapter:
        key = settings.private_key()
        if settings.github_app_id is None or key is None:
            raise PermanentError("the GitHub App id and private key are not configured")
        return cls(
            settings.github_api_url,
            settings.github_app_id,
            key.get_secret_value(),
            clock,
            on_rate_limit=on_rate_limit,
        )

    # --- authentication -------------------------------------------------------------

    def check_credentials(self) -> None:
        """A ``/readyz`` check: GitHub accepts a token signed with the App's key (``GET
        /app``). A success is trusted for ``CREDENTIALS_TTL``, so probes cost GitHub one call
        a minute; a failure raises and is asked again at the next probe."""
        now = self.clock.now()
        if self._credentials_ok_until is not None and now < self._credentials_ok_until:
            return
        self._app_api.call("GET", "/app", "check the App's credentials")
        self._credentials_ok_until = now + CREDENTIALS_TTL

    def installation_token(self, repo: str) -> str:
        return self._tokens.token(self._installation(repo))

    def _installation(self, repo: str) -> int:
        repo_path(repo)  # refuse a malformed name before any call
        return self._tokens.installation_id(repo)

    def _find_installation(self, repo: str) -> int:
        doc = self._app_api.call(
            "GET", f"{repo_path(repo)}/installation", f"find the App's installation on {repo}"
        )
        return int(doc["id"])

    def _mint_token(self, installation_id: int) -> CachedToken:
        doc = self._app_api.call(
            "POST",
            path("/app/installations/{}/access_tokens", installation_id),
            f"create a token for installation {installation_id}",
        )
        expires = datetime.fromisoformat(str(doc["expires_at"]).replace("Z", "+00:00"))
        return CachedToken(str(doc["token"]), expires)

    def _api(self, repo: str) -> Api:
        installation_id = self._installation(repo)
        with self._lock:
            api = self._apis.get(installation_id)
            if api is None:
                github = make_github(
                    self.api_url, TokenAuth(lambda: self._tokens.token(installation_id))
                )
                api = self._apis[installation_id] = Api(
                    github.requester,
                    self.clock,
                    on_rate=self._record_rate,
                    on_unauthorized=lambda: self._tokens.forget(installation_id=installation_id),
                )
        return api

    def _record_rate(self, resource: str, remaining: int) -> None:
        if resource == "core":
            self.rate_limit_remaining = remaining
        if self._on_rate_limit is not None:
            self._on_rate_limit(resource, remaining)

    # --- reading --------------------------------------------------------------------

    def repo(self, full_name: str) -> RepoInfo:
        key = full_name.lower()
        cached = self._repos.get(key)
        if cached is not None and self.clock.now() < cached[1] + self._repo_ttl:
            return cached[0]
        doc = self._api(full_name).call("GET", repo_path(full_name), f"read {full_name}")
        info = repo_info(doc)
        self._repos[key] = (info, self.clock.now())
        return info

    def read_file(self, repo: str, path: str, ref: str) -> bytes | None:
        api = self._api(repo)
        url = f"{repo_path(repo)}/contents/{_quoted(path.strip('/'))}"
        try:
            doc = api.call("GET", url, f"read {path} at {ref} in {repo}", {"ref": ref})
        except NotFound:
            return None
        if not isinstance(doc, dict) or doc.get("type") != "file":
            return None
        if doc.get("encoding") == "base64" and (doc.get("content") or not doc.get("size")):
            return base64.b64decode(doc.get("content") or "")
        # Files over 1 MB come without content; their blob has it.
        blob = api.call("GET", f"{repo_path(repo)}/git/blobs/{doc['sha']}", f"read {path}")
        return base64.b64decode(blob["content"])

    def resolve_ref(self, repo: str, ref: str) -> str:
        url = f"{repo_path(repo)}/commits/{_quoted(ref)}"
        try:
            doc = self._api(repo).call("GET", url, f"resolve {ref} in {repo}")
        except Unprocessable as exc:
            # GitHub says 422 "No commit found for SHA" for a sha-like ref it does not know.
            raise NotFound(exc.message, hint="no branch, tag or commit has that name") from None
        return str(doc["sha"])

    def permission(self, repo: str, user: str) -> Permission:
        url = path("{}/collaborators/{}/permission", repo_path(repo), user)
        try:
            doc = self._api(repo).call("GET", url, f"read {user}'s permission on {repo}")
        except NotFound:
            return "none"
        return permission_of(doc)

    def pull(self, repo: str, number: int) -> PullInfo:
        return self.pull_facts(repo, number).pull

    def pull_facts(
        self, repo: str, number: int, *, approval: bool = False, checks: bool = False
    ) -> PullFacts:
        asked = " and ".join(
            what for what, wanted in (("reviews", approval), ("checks", checks)) if wanted
        )
        doing = f"read {repo}#{number}" + (f" and its {asked}" if asked else "")
        pages = PullPages(repo, number, approval=approval, checks=checks)
        self._read_pages(repo, PULL, pages, doing)
        return pages.facts(self.app_id)

    def checks_state(self, repo: str, sha: str) -> ChecksState:
        pages = CommitPages(repo, sha)
        self._read_pages(repo, COMMIT_CHECKS, pages, f"read the checks of {sha[:12]} in {repo}")
        return pages.verdict(self.app_id)

    def _read_pages(
        self, repo: str, query: str, pages: PullPages | CommitPages, doing: str
    ) -> None:
        """Send ``query`` until ``pages`` has every page it wants (one request, usually)."""
        api = self._api(repo)
        for _ in range(MAX_PAGES):
            if not pages.take(api.graphql(self.graphql_url, query, pages.variables(), doing)):
                return
        raise PermanentError(f"more than {MAX_PAGES} pages of answers to {doing}")

    def build_run(self, repo: str, sha: str) -> BuildRun | None:
        url = f"{repo_path(repo)}/actions/runs"
        doing = f"find the build of {sha[:12]} in {repo}"
        runs = self._api(repo).pages(url, doing, {"head_sha": sha}, key="workflow_runs")
        return latest_build(runs, BUILD_WORKFLOW_NAME, sha)

    # --- acting ---------------------------------------------------------------------

    def react(self, repo: str, comment_id: int, content: Reaction = "eyes") -> None:
        url = f"{repo_path(repo)}/issues/comments/{int(comment_id)}/reactions"
        self._api(repo).call(
            "POST", url, f"react to a comment in {repo}", body={"content": content}
        )

    def merge_pr(
        self, repo: str, number: int, method: MergeMethod = "merge", sha: str | None = None
    ) -> str:
        body: dict[str, Any] = {"merge_method": method}
        if sha is not None:
            body["sha"] = sha
        url = f"{repo_path(repo)}/pulls/{int(number)}/merge"
        doc = self._api(repo).call("PUT", url, f"merge {repo}#{number}", body=body)
        return str(doc["sha"])

    def convert_manifest(self, code: str) -> AppCredentials:
        return convert_manifest(self.api_url, code, self.clock)


def convert_manifest(api_url: str, code: str, clock: Clock) -> AppCredentials:
    """The App setup flow's last step, before any App credentials exist: unauthenticated,
    the one-time ``code`` GitHub handed to the redirect URL is the proof."""
    guard_pygithub_logging()
    api = Api(make_github(api_url, None).requester, clock)
    url = path("/app-manifests/{}/conversions", code)
    return app_credentials(api.call("POST", url, "convert the App manifest"))


def _quoted(text: str) -> str:
    return path("{}", text)
