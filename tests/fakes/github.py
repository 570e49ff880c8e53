"""``FakeGitHub``: the one in-memory, recording implementation of the ``GitHub`` port.

Seed it (``add_repo``, ``put_file``, ``add_pull``, ...), run the handler, then read what
happened from ``calls`` and from the state (``comments``, ``deployments``, ...). It keeps
the adapter's semantics that handlers rely on: one comment per marker edited in place, one
open pull request per head branch, one open issue per marker, ``NotFound`` for unknown
repositories, ``none`` permission for strangers. ``fail(method, error)`` makes the next
call(s) of a method raise, for retry and error paths.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.messages import marker as command_marker
from bot.ports import (
    AppCredentials,
    BuildRun,
    CheckConclusion,
    ChecksState,
    CheckStatus,
    CommentRef,
    DeploymentState,
    IssueRef,
    MergeMethod,
    NotFound,
    Permission,
    PullFacts,
    PullInfo,
    PullRef,
    Reaction,
    RepoInfo,
)

BASE = "https://github.example"


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple[Any, ...]


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    marker_id: str
    body: str
    edits: int = 0


@dataclass
class PullRequest:
    ref: PullRef
    repo: str
    head: str
    base: str
    title: str
    body: str
    state: str = "open"
    merged_with: MergeMethod | None = None


@dataclass
class Deployment:
    id: int
    repo: str
    sha: str
    environment: str
    payload: dict[str, Any]
    description: str
    production: bool | None
    statuses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckRun:
    id: int
    repo: str
    sha: str
    name: str
    status: CheckStatus
    conclusion: CheckConclusion | None
    title: str
    summary: str
    details_url: str | None
    external_id: str | None = None


@dataclass
class Issue:
    number: int
    repo: str
    marker: str
    title: str
    body: str
    state: str = "open"


def fake_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


class FakeGitHub:
    """In-memory GitHub; every port call is appended to ``calls`` before it runs."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.repos: dict[str, RepoInfo] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.permissions: dict[tuple[str, str], Permission] = {}
        self.pulls: dict[tuple[str, int], PullInfo] = {}
        self.approvals: dict[tuple[str, int], bool] = {}
        self.checks: dict[tuple[str, str], ChecksState] = {}
        self.builds: dict[tuple[str, str], BuildRun] = {}
        self.branches: dict[tuple[str, str], str] = {}
        self.comments: dict[int, Comment] = {}
        self.reactions: list[tuple[str, int, Reaction]] = []
        self.pull_requests: dict[int, PullRequest] = {}
        self.deployments: dict[int, Deployment] = {}
        self.check_runs: dict[int, CheckRun] = {}
        self.commit_statuses: list[dict[str, Any]] = []
        self.issues: dict[int, Issue] = {}
        self.manifest_codes: dict[str, AppCredentials] = {}
        self.checks_forbidden: set[str] = set()
        self._failures: dict[str, list[BaseException]] = {}
        self._ids = itertools.count(1001)
        self._numbers = itertools.count(100)

    # --- seeding and inspecting -------------------------------------------------------

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", private: bool = True
    ) -> RepoInfo:
        owner, _, name = full_name.partition("/")
        info = RepoInfo(
            full_name=full_name,
            clone_url=f"{BASE}/{full_name}.git",
            default_branch=default_branch,
            private=private,
            owner=owner,
            name=name,
            html_url=f"{BASE}/{full_name}",
        )
        self.repos[full_name.lower()] = info
        return info

    def put_file(self, repo: str, path: str, content: str | bytes, ref: str | None = None) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.files[(repo.lower(), ref or self._repo(repo).default_branch, path)] = data

    def set_permission(self, repo: str, user: str, permission: Permission) -> None:
        self.permissions[(repo.lower(), user.lower())] = permission

    def add_pull(self, repo: str, number: int, **fields: Any) -> PullInfo:
        """A pull request as ``pull()`` reports it; ``fields`` override sensible defaults."""
        head_ref = fields.get("head_ref", f"feature-{number}")
        pull = PullInfo(
            number=number,
            state=fields.get("state", "open"),
            merged=fields.get("merged", False),
            head_sha=fields.get("head_sha", fake_sha(repo, number)),
            head_ref=head_ref,
            head_repo_full_name=fields.get("head_repo_full_name", repo),
            base_ref=fields.get("base_ref", self._repo(repo).default_branch),
            is_fork=fields.get("is_fork", False),
            author=fields.get("author", "octocat"),
            html_url=f"{BASE}/{repo}/pull/{number}",
        )
        self.pulls[(repo.lower(), number)] = pull
        return pull

    def set_approved(self, repo: str, number: int, approved: bool = True) -> None:
        """What ``pull_facts(..., approval=True)`` says of the pull request's reviews."""
        self.approvals[(repo.lower(), number)] = approved

    def set_checks(self, repo: str, sha: str, state: ChecksState) -> None:
        self.checks[(repo.lower(), sha)] = state

    def set_build(
        self, repo: str, sha: str, status: str = "completed", conclusion: str | None = "success"
    ) -> BuildRun:
        run = BuildRun(next(self._ids), sha, status, conclusion, f"{BASE}/{repo}/actions/runs/1")
        self.builds[(repo.lower(), sha)] = run
        return run

    def set_branch(self, repo: str, branch: str, sha: str) -> None:
        self.branches[(repo.lower(), branch)] = sha

    def add_manifest_code(self, code: str, credentials: AppCredentials) -> None:
        self.manifest_codes[code] = credentials

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``error`` (recorded all the same)."""
        self._failures.setdefault(method, []).extend([error] * times)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [call.args for call in self.calls if call.method == method]

    def comment(self, repo: str, issue_number: int, marker_id: str) -> Comment | None:
        return next(
            (
                c
                for c in self.comments.values()
                if (c.repo, c.issue_number, c.marker_id) == (repo.lower(), issue_number, marker_id)
            ),
            None,
        )

    def open_pulls(self, repo: str) -> list[PullRequest]:
        return [
            p for p in self.pull_requests.values() if p.repo == repo.lower() and p.state == "open"
        ]

    # --- the port -----------------------------------------------------------------------

    def repo(self, full_name: str) -> RepoInfo:
        self._record("repo", full_name)
        return self._repo(full_name)

    def installation_token(self, repo: str) -> str:
        self._record("installation_token", repo)
        self._repo(repo)
        return "fake-installation-token"

    def read_file(self, repo: str, path: str, ref: str) -> bytes | None:
        self._record("read_file", repo, path, ref)
        self._repo(repo)
        return self.files.get((repo.lower(), ref, path.strip("/")))

    def resolve_ref(self, repo: str, ref: str) -> str:
        self._record("resolve_ref", repo, ref)
        self._repo(repo)
        if (repo.lower(), ref) in self.branches:
            return self.branches[(repo.lower(), ref)]
        known = {sha for (name, _), sha in self.branches.items() if name == repo.lower()}
        known |= {p.head_sha for (name, _), p in self.pulls.items() if name == repo.lower()}
        found = [sha for sha in known if len(ref) >= 7 and sha.startswith(ref.lower())]
        if len(found) != 1:
            raise NotFound(f"GitHub answered 404 to resolve {ref} in {repo}")
        return found[0]

    def permission(self, repo: str, user: str) -> Permission:
        self._record("permission", repo, user)
        self._repo(repo)
        return self.permissions.get((repo.lower(), user.lower()), "none")

    def pull(self, repo: str, number: int) -> PullInfo:
        self._record("pull", repo, number)
        return self._pull(repo, number)

    def pull_facts(
        self, repo: str, number: int, *, approval: bool = False, checks: bool = False
    ) -> PullFacts:
        self._record("pull_facts", repo, number, approval, checks)
        pull = self._pull(repo, number)
        approved = self.approvals.get((repo.lower(), number), False) if approval else None
        head_checks = self.checks.get((repo.lower(), pull.head_sha), "none") if checks else None
        return PullFacts(pull, approved, head_checks)

    def checks_state(self, repo: str, sha: str) -> ChecksState:
        self._record("checks_state", repo, sha)
        self._repo(repo)
        return self.checks.get((repo.lower(), sha), "none")

    def build_run(self, repo: str, sha: str) -> BuildRun | None:
        self._record("build_run", repo, sha)
        self._repo(repo)
        return self.builds.get((repo.lower(), sha))

    def react(self, repo: str, comment_id: int, content: Reaction = "eyes") -> None:
        self._record("react", repo, comment_id, content)
        self._repo(repo)
        self.reactions.append((repo.lower(), comment_id, content))

    def upsert_comment(self, repo: str, issue_number: int, marker_id: str, body: str) -> CommentRef:
        self._record("upsert_comment", repo, issue_number, marker_id, body)
        self._repo(repo)
        tag = command_marker(marker_id)
        text = body if tag in body else f"{tag}\n\n{body}"
        found = self.comment(repo, issue_number, marker_id)
        if found is None:
            found = Comment(next(self._ids), repo.lower(), issue_number, marker_id, text)
            self.comments[found.id] = found
        else:
            found.body, found.edits = text, found.edits + 1
        return CommentRef(found.id, f"{BASE}/{repo}/issues/{issue_number}#issuecomment-{found.id}")

    def open_or_update_pr(self, repo: str, head: str, base: str, title: str, body: str) -> PullRef:
        self._record("open_or_update_pr", repo, head, base, title, body)
        self._repo(repo)
        sha = self.branches.get((repo.lower(), head), fake_sha(repo, head))
        existing = next((p for p in self.open_pulls(repo) if p.head == head), None)
        if existing is not None:
            existing.base, existing.title, existing.body = base, title, body
            existing.ref = replace(existing.ref, head_sha=sha, created=False)
            return existing.ref
        number = next(self._numbers)
        ref = PullRef(number, f"{BASE}/{repo}/pull/{number}", sha, created=True)
        self.pull_requests[number] = PullRequest(ref, repo.lower(), head, base, title, body)
        return ref

    def merge_pr(
        self, repo: str, number: int, method: MergeMethod = "merge", sha: str | None = None
    ) -> str:
        self._record("merge_pr", repo, number, method, sha)
        pr = self.pull_requests.get(number)
        if pr is None or pr.repo != repo.lower():
            raise NotFound(f"GitHub answered 404 to merge {repo}#{number}")
        pr.state, pr.merged_with = "closed", method
        return fake_sha("merge", repo, number)

    def create_deployment(
        self,
        repo: str,
        sha: str,
        environment: str,
        payload: Mapping[str, Any],
        description: str,
        *,
        production: bool | None = None,
    ) -> int:
        self._record("create_deployment", repo, sha, environment, dict(payload), description)
        self._repo(repo)
        deployment = Deployment(
            next(self._ids), repo.lower(), sha, environment, dict(payload), description, production
        )
        self.deployments[deployment.id] = deployment
        return deployment.id

    def deployment_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        environment_url: str | None = None,
        log_url: str | None = None,
        description: str | None = None,
        auto_inactive: bool = True,
    ) -> None:
        self._record("deployment_status", repo, deployment_id, state)
        deployment = self.deployments.get(deployment_id)
        if deployment is None or deployment.repo != repo.lower():
            raise NotFound(f"GitHub answered 404 to set deployment {deployment_id} {state}")
        deployment.statuses.append(
            {
                "state": state,
                "environment_url": environment_url,
                "log_url": log_url,
                "description": description,
                "auto_inactive": auto_inactive,
            }
        )

    def check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        status: CheckStatus,
        conclusion: CheckConclusion | None = None,
        title: str = "",
        summary: str = "",
        details_url: str | None = None,
        existing_id: int | None = None,
        external_id: str | None = None,
    ) -> int:
        self._record("check_run", repo, sha, name, status, conclusion, existing_id)
        self._repo(repo)
        if repo.lower() in self.checks_forbidden:
            status_id = next(self._ids)
            self.commit_statuses.append(
                {
                    "id": status_id,
                    "repo": repo.lower(),
                    "sha": sha,
                    "context": name,
                    "status": status,
                    "conclusion": conclusion,
                }
            )
            return status_id
        run = self.check_runs.get(existing_id) if existing_id is not None else None
        if run is None:
            run = CheckRun(
                next(self._ids),
                repo.lower(),
                sha,
                name,
                status,
                conclusion,
                title,
                summary,
                details_url,
                external_id,
            )
            self.check_runs[run.id] = run
        else:
            run.status, run.conclusion, run.title = status, conclusion, title
            run.summary, run.details_url = summary, details_url
        return run.id

    def find_deployment(self, repo: str, sha: str, environment: str, label: str) -> int | None:
        self._record("find_deployment", repo, sha, environment, label)
        for deployment in reversed(self.deployments.values()):
            same = (deployment.repo, deployment.sha, deployment.environment)
            if same == (repo.lower(), sha, environment) and (
                deployment.payload.get("autostack") == label
            ):
                return deployment.id
        return None

    def deployment_states(self, repo: str, deployment_id: int) -> list[str]:
        self._record("deployment_states", repo, deployment_id)
        deployment = self.deployments.get(deployment_id)
        if deployment is None or deployment.repo != repo.lower():
            raise NotFound(f"GitHub answered 404 to read deployment {deployment_id}")
        return [str(status["state"]) for status in reversed(deployment.statuses)]

    def find_check_run(self, repo: str, sha: str, name: str, external_id: str) -> int | None:
        self._record("find_check_run", repo, sha, name, external_id)
        for run in reversed(self.check_runs.values()):
            if (run.repo, run.sha, run.name, run.external_id) == (
                repo.lower(),
                sha,
                name,
                external_id,
            ):
                return run.id
        return None

    def open_or_update_issue(self, repo: str, marker: str, title: str, body: str) -> IssueRef:
        self._record("open_or_update_issue", repo, marker, title, body)
        self._repo(repo)
        issue = self._issue(repo, marker)
        created = issue is None
        if issue is None:
            issue = Issue(next(self._numbers), repo.lower(), marker, title, body)
            self.issues[issue.number] = issue
        issue.title, issue.body, issue.state = title, body, "open"
        return IssueRef(issue.number, f"{BASE}/{repo}/issues/{issue.number}", created)

    def close_issue(self, repo: str, marker: str) -> bool:
        self._record("close_issue", repo, marker)
        self._repo(repo)
        issue = self._issue(repo, marker)
        if issue is None:
            return False
        issue.state = "closed"
        return True

    def convert_manifest(self, code: str) -> AppCredentials:
        self._record("convert_manifest", code)
        credentials = self.manifest_codes.pop(code, None)
        if credentials is None:
            raise NotFound("GitHub answered 404 to convert the App manifest")
        return credentials

    # --- internals ----------------------------------------------------------------------

    def _record(self, method: str, *args: Any) -> None:
        self.calls.append(Call(method, args))
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _repo(self, full_name: str) -> RepoInfo:
        found = self.repos.get(full_name.lower())
        if found is None:
            raise NotFound(f"GitHub answered 404 to read {full_name}")
        return found

    def _pull(self, repo: str, number: int) -> PullInfo:
        self._repo(repo)
        found = self.pulls.get((repo.lower(), number))
        if found is None:
            raise NotFound(f"GitHub answered 404 to read {repo}#{number}")
        return found

    def _issue(self, repo: str, marker: str) -> Issue | None:
        return next(
            (
                i
                for i in self.issues.values()
                if (i.repo, i.marker, i.state) == (repo.lower(), marker, "open")
            ),
            None,
        )
