"""Simulated GitHub Actions: the ``AutoStack build`` workflow's runs, their ``workflow_run``
webhooks, and the REST list of runs.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import bare, shapes
from sandbox.github.api import Ctx, Paged, api_route
from sandbox.github.pushes import push_commit
from sandbox.github.state import GitHubState, StateError

Doc = dict[str, Any]
WORKFLOW_NAME = "AutoStack build"
WORKFLOW_PATH = ".github/workflows/autostack-build.yml"


def workflow_id(repo: Doc) -> int:
    return 160000000 + int(repo["id"])


def workflow_shape(state: GitHubState, repo: Doc) -> Doc:
    api = shapes.repo_api(state.public_url, repo)
    html = f"{state.public_url}/{shapes.full_name(repo)}"
    wid = workflow_id(repo)
    created = shapes.iso(repo["created_at"])
    return {
        "id": wid,
        "node_id": shapes.node_id("Workflow", wid),
        "name": WORKFLOW_NAME,
        "path": WORKFLOW_PATH,
        "state": "active",
        "created_at": created,
        "updated_at": created,
        "url": f"{api}/actions/workflows/{wid}",
        "html_url": f"{html}/blob/{repo['default_branch']}/{WORKFLOW_PATH}",
        "badge_url": f"{html}/workflows/{WORKFLOW_NAME.replace(' ', '%20')}/badge.svg",
    }


def run_shape(state: GitHubState, repo: Doc, run: Doc) -> Doc:
    base = state.public_url
    api = shapes.repo_api(base, repo)
    html = f"{base}/{shapes.full_name(repo)}"
    run_url = f"{api}/actions/runs/{run['id']}"
    owner = state.account(repo["owner"]) or {}
    actor = shapes.user(base, state.account(run["actor"]) or state.actor(None))
    commit = push_commit(state, repo, state.repo_path(repo), run["head_sha"], None)
    head_commit = {k: commit[k] for k in ("id", "tree_id", "message", "timestamp")}
    head_commit["author"] = {"name": commit["author"]["name"], "email": commit["author"]["email"]}
    head_commit["committer"] = {
        "name": commit["committer"]["name"],
        "email": commit["committer"]["email"],
    }
    minimal = shapes.minimal_repo(base, repo, owner)
    return {
        "id": run["id"],
        "name": WORKFLOW_NAME,
        "node_id": shapes.node_id("WorkflowRun", run["id"]),
        "head_branch": run["head_branch"],
        "head_sha": run["head_sha"],
        "path": WORKFLOW_PATH,
        "display_title": commit["message"].splitlines()[0] if commit["message"] else "",
        "run_number": run["run_number"],
        "run_attempt": 1,
        "event": run["event"],
        "status": run["status"],
        "conclusion": run.get("conclusion"),
        "workflow_id": workflow_id(repo),
        "check_suite_id": run["id"] + 1,
        "check_suite_node_id": shapes.node_id("CheckSuite", run["id"] + 1),
        "url": run_url,
        "html_url": f"{html}/actions/runs/{run['id']}",
        "pull_requests": [],
        "created_at": shapes.iso(run["created_at"]),
        "updated_at": shapes.iso(run["updated_at"]),
        "run_started_at": shapes.iso(run["created_at"]),
        "actor": actor,
        "triggering_actor": actor,
        "jobs_url": f"{run_url}/jobs",
        "logs_url": f"{run_url}/logs",
        "check_suite_url": f"{api}/check-suites/{run['id'] + 1}",
        "artifacts_url": f"{run_url}/artifacts",
        "cancel_url": f"{run_url}/cancel",
        "rerun_url": f"{run_url}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{api}/actions/workflows/{workflow_id(repo)}",
        "referenced_workflows": [],
        "head_commit": head_commit,
        "repository": minimal,
        "head_repository": minimal,
    }


def simulate_run(
    state: GitHubState,
    repo: Doc,
    sha: str,
    conclusion: str | None,
    actor: Doc,
    branch: str | None = None,
    event: str = "push",
) -> Doc:
    """A build of ``sha``: queued (``requested``), then completed unless ``conclusion`` is None."""
    path = state.repo_path(repo)
    full = bare.rev_parse(path, sha)
    if full is None:
        raise StateError(422, f"No commit found for SHA: {sha}")
    if branch is None:
        heads = bare.list_refs(path, "refs/heads/")
        branch = next(
            (r.removeprefix("refs/heads/") for r, s in heads.items() if s == full),
            repo["default_branch"],
        )
    now = state.clock()
    run = {
        "id": state.store.next_id("workflow_run", 7000000000),
        "run_number": state.store.next_id(f"run_number:{repo['id']}"),
        "head_sha": full,
        "head_branch": branch,
        "event": event,
        "status": "queued",
        "conclusion": None,
        "actor": actor["login"],
        "created_at": now,
        "updated_at": now,
    }
    state.store.put("workflow_run", run["id"], run, repo["id"])
    _announce(state, repo, run, "requested", actor)
    if conclusion is not None:
        complete_run(state, repo, run, conclusion, actor)
    return run


def complete_run(state: GitHubState, repo: Doc, run: Doc, conclusion: str, actor: Doc) -> Doc:
    run.update(status="completed", conclusion=conclusion, updated_at=state.clock())
    state.store.put("workflow_run", run["id"], run, repo["id"])
    _announce(state, repo, run, "completed", actor)
    return run


def _announce(state: GitHubState, repo: Doc, run: Doc, action: str, actor: Doc) -> None:
    body = {"workflow_run": run_shape(state, repo, run), "workflow": workflow_shape(state, repo)}
    state.emit("workflow_run", action, body, repo, actor)


def list_runs(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    q = {name: ctx.query(name) for name in ("head_sha", "branch", "event", "status", "actor")}
    runs = []
    for run in reversed(ctx.state.store.list("workflow_run", repo["id"])):
        if q["head_sha"] and run["head_sha"] != q["head_sha"]:
            continue
        if q["branch"] and run["head_branch"] != q["branch"]:
            continue
        if q["event"] and run["event"] != q["event"]:
            continue
        if q["actor"] and run["actor"] != q["actor"]:
            continue
        if q["status"] and q["status"] not in (run["status"], run.get("conclusion")):
            continue
        runs.append(run_shape(ctx.state, repo, run))
    return Paged(runs, key="workflow_runs")


def get_run(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    for run in ctx.state.store.list("workflow_run", repo["id"]):
        if str(run["id"]) == ctx.params["run_id"]:
            return run_shape(ctx.state, repo, run)
    raise StateError(404, "Not Found")


def list_workflow_runs(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    wanted = ctx.params["workflow_id"]
    if wanted not in (str(workflow_id(repo)), WORKFLOW_PATH.rsplit("/", 1)[-1]):
        raise StateError(404, "Not Found")
    return list_runs(ctx)


def routes(state: GitHubState) -> list[Route]:
    a = "/repos/{owner}/{repo}/actions"
    return [
        api_route(state, "GET", f"{a}/runs", list_runs),
        api_route(state, "GET", f"{a}/runs/{{run_id}}", get_run),
        api_route(state, "GET", f"{a}/workflows/{{workflow_id}}/runs", list_workflow_runs),
    ]
