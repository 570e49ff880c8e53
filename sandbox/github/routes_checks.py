"""REST: commit statuses (and the combined status) and check runs."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import commits, shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
STATES = ("error", "failure", "pending", "success")


def app_shape(state: GitHubState) -> Doc:
    app = state.app_doc()
    owner = state.account(app["owner"]) or state.actor(None)
    return shapes.integration(state.public_url, app, owner)


def _status_shape(ctx: Ctx, doc: Doc) -> Doc:
    creator = ctx.state.account(doc["creator"]) or ctx.state.actor(None)
    return {
        "url": f"{ctx.base}/repos/{doc['full_name']}/statuses/{doc['sha']}",
        "avatar_url": f"{ctx.base}/avatars/{creator['login']}",
        "id": doc["id"],
        "node_id": shapes.node_id("StatusContext", doc["id"]),
        "state": doc["state"],
        "description": doc.get("description"),
        "target_url": doc.get("target_url"),
        "context": doc["context"],
        "created_at": shapes.iso(doc["created_at"]),
        "updated_at": shapes.iso(doc["created_at"]),
        "creator": shapes.user(ctx.base, creator),
    }


def create_status(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    sha = commits.resolve(ctx.state.repo_path(repo), ctx.params["sha"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ctx.params['sha']}")
    status = ctx.field("state", required=True)
    if status not in STATES:
        raise ApiError(
            422,
            "Validation Failed",
            [
                {
                    "resource": "Status",
                    "field": "state",
                    "code": "custom",
                    "message": "state is not included in the list",
                }
            ],
        )
    doc = {
        "id": ctx.state.store.next_id("status", 30000000),
        "sha": sha,
        "full_name": shapes.full_name(repo),
        "state": status,
        "description": ctx.field("description"),
        "target_url": ctx.field("target_url"),
        "context": ctx.field("context") or "default",
        "creator": ctx.actor()["login"],
        "created_at": ctx.state.clock(),
    }
    ctx.state.store.put("status", doc["id"], doc, f"{repo['id']}:{sha}")
    return Reply(_status_shape(ctx, doc), 201)


def latest_statuses(state: GitHubState, repo: Doc, sha: str) -> list[Doc]:
    """The newest status per context, newest first (what the combined status reports)."""
    latest: dict[str, Doc] = {}
    for doc in state.store.list("status", f"{repo['id']}:{sha}"):
        latest[doc["context"]] = doc
    return sorted(latest.values(), key=lambda d: d["id"], reverse=True)


def combined_state(statuses: list[Doc]) -> str:
    states = {s["state"] for s in statuses}
    if states & {"error", "failure"}:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


def combined_status(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    sha = commits.resolve_or_404(ctx.state, repo, ctx.params["ref"])
    statuses = latest_statuses(ctx.state, repo, sha)
    shaped = [_status_shape(ctx, s) for s in statuses]
    api = shapes.repo_api(ctx.base, repo)
    return {
        "state": combined_state(statuses),
        "statuses": shaped,
        "sha": sha,
        "total_count": len(shaped),
        "repository": shapes.minimal_repo(ctx.base, repo, ctx.state.account(repo["owner"]) or {}),
        "commit_url": f"{api}/commits/{sha}",
        "url": f"{api}/commits/{sha}/status",
    }


def list_statuses(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    sha = commits.resolve_or_404(ctx.state, repo, ctx.params["ref"])
    docs = ctx.state.store.list("status", f"{repo['id']}:{sha}")
    return Paged([_status_shape(ctx, d) for d in reversed(docs)])


def _check_shape(ctx: Ctx, repo: Doc, doc: Doc) -> Doc:
    api = shapes.repo_api(ctx.base, repo)
    html = f"{ctx.base}/{shapes.full_name(repo)}"
    output = doc.get("output") or {}
    return {
        "id": doc["id"],
        "head_sha": doc["head_sha"],
        "node_id": shapes.node_id("CheckRun", doc["id"]),
        "external_id": doc.get("external_id") or "",
        "url": f"{api}/check-runs/{doc['id']}",
        "html_url": f"{html}/runs/{doc['id']}",
        "details_url": doc.get("details_url") or f"{html}/runs/{doc['id']}",
        "status": doc["status"],
        "conclusion": doc.get("conclusion"),
        "started_at": doc.get("started_at"),
        "completed_at": doc.get("completed_at"),
        "output": {
            "title": output.get("title"),
            "summary": output.get("summary"),
            "text": output.get("text"),
            "annotations_count": 0,
            "annotations_url": f"{api}/check-runs/{doc['id']}/annotations",
        },
        "name": doc["name"],
        "check_suite": {"id": doc["check_suite_id"]},
        "app": app_shape(ctx.state),
        "pull_requests": [],
    }


_CHECK_FIELDS = (
    "name",
    "details_url",
    "external_id",
    "status",
    "conclusion",
    "started_at",
    "completed_at",
    "output",
)


def _apply_check_fields(ctx: Ctx, doc: Doc) -> None:
    for name in _CHECK_FIELDS:
        if ctx.field(name) is not None:
            doc[name] = ctx.field(name)
    if doc.get("conclusion") and ctx.field("status") is None:
        doc["status"] = "completed"
    if doc["status"] == "completed":
        if not doc.get("conclusion"):
            raise ApiError(422, 'Invalid request.\n\nNo subschema in "anyOf" matched.')
        doc.setdefault("completed_at", shapes.iso(ctx.state.clock()))
        doc["completed_at"] = doc["completed_at"] or shapes.iso(ctx.state.clock())


def _require_app(ctx: Ctx) -> None:
    if ctx.principal.kind != "installation":
        raise ApiError(403, "You must authenticate via a GitHub App.")


def create_check_run(ctx: Ctx) -> Reply:
    _require_app(ctx)
    repo = ctx.writable_repo()
    name, head_sha = ctx.field("name", required=True), ctx.field("head_sha", required=True)
    sha = commits.resolve(ctx.state.repo_path(repo), head_sha)
    if sha is None:
        raise ApiError(422, "No commit found for SHA: " + head_sha)
    doc: Doc = {
        "id": ctx.state.store.next_id("check_run", 40000000),
        "check_suite_id": ctx.state.store.next_id("check_suite", 20000000),
        "name": name,
        "head_sha": sha,
        "status": "queued",
        "conclusion": None,
        "started_at": shapes.iso(ctx.state.clock()),
        "completed_at": None,
    }
    _apply_check_fields(ctx, doc)
    ctx.state.store.put("check_run", doc["id"], doc, repo["id"])
    return Reply(_check_shape(ctx, repo, doc), 201)


def _check_run(ctx: Ctx, repo: Doc) -> Doc:
    doc = ctx.state.store.get("check_run", ctx.params["check_run_id"])
    if doc is None or doc["id"] not in {
        d["id"] for d in ctx.state.store.list("check_run", repo["id"])
    }:
        raise ApiError(404, "Not Found")
    return doc


def update_check_run(ctx: Ctx) -> Doc:
    _require_app(ctx)
    repo = ctx.writable_repo()
    doc = _check_run(ctx, repo)
    _apply_check_fields(ctx, doc)
    ctx.state.store.put("check_run", doc["id"], doc, repo["id"])
    return _check_shape(ctx, repo, doc)


def get_check_run(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    return _check_shape(ctx, repo, _check_run(ctx, repo))


def checks_for_ref(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    sha = commits.resolve_or_404(ctx.state, repo, ctx.params["ref"])
    name, status = ctx.query("check_name"), ctx.query("status")
    docs = [
        d
        for d in reversed(ctx.state.store.list("check_run", repo["id"]))
        if d["head_sha"] == sha
        and (not name or d["name"] == name)
        and (not status or d["status"] == status)
    ]
    return Paged([_check_shape(ctx, repo, d) for d in docs], key="check_runs")


def routes(state: GitHubState) -> list[Route]:
    r = "/repos/{owner}/{repo}"
    return [
        api_route(state, "POST", f"{r}/statuses/{{sha}}", create_status),
        api_route(state, "GET", f"{r}/commits/{{ref:path}}/status", combined_status),
        api_route(state, "GET", f"{r}/commits/{{ref:path}}/statuses", list_statuses),
        api_route(state, "GET", f"{r}/commits/{{ref:path}}/check-runs", checks_for_ref),
        api_route(state, "POST", f"{r}/check-runs", create_check_run),
        api_route(state, "GET", f"{r}/check-runs/{{check_run_id}}", get_check_run),
        api_route(state, "PATCH", f"{r}/check-runs/{{check_run_id}}", update_check_run),
    ]
