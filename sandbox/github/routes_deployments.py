"""REST: deployments and deployment statuses (which send ``deployment_status`` webhooks)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import commits, shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.routes_checks import app_shape, combined_state, latest_statuses
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
DEPLOY_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


def _via_app(ctx: Ctx, doc: Doc) -> Doc | None:
    return app_shape(ctx.state) if doc.get("via_app") else None


def deployment_shape(ctx: Ctx, repo: Doc, doc: Doc) -> Doc:
    api = shapes.repo_api(ctx.base, repo)
    creator = ctx.state.account(doc["creator"]) or ctx.state.actor(None)
    return {
        "url": f"{api}/deployments/{doc['id']}",
        "id": doc["id"],
        "node_id": shapes.node_id("Deployment", doc["id"]),
        "sha": doc["sha"],
        "ref": doc["ref"],
        "task": doc["task"],
        "payload": doc["payload"],
        "original_environment": doc["environment"],
        "environment": doc["environment"],
        "description": doc.get("description"),
        "creator": shapes.user(ctx.base, creator),
        "created_at": shapes.iso(doc["created_at"]),
        "updated_at": shapes.iso(doc["updated_at"]),
        "statuses_url": f"{api}/deployments/{doc['id']}/statuses",
        "repository_url": api,
        "transient_environment": doc["transient_environment"],
        "production_environment": doc["production_environment"],
        "performed_via_github_app": _via_app(ctx, doc),
    }


def _check_contexts(ctx: Ctx, repo: Doc, sha: str, ref: str) -> None:
    required = ctx.field("required_contexts")
    statuses = latest_statuses(ctx.state, repo, sha)
    if required is None:
        considered = statuses
    else:
        considered = [s for s in statuses if s["context"] in required]
        missing = set(required) - {s["context"] for s in statuses}
        if missing:
            raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.")
    if considered and combined_state(considered) != "success":
        raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.")


def create_deployment(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    ref = ctx.field("ref", required=True)
    sha = commits.resolve(ctx.state.repo_path(repo), ref)
    if sha is None:
        raise ApiError(422, f"No ref found for: {ref}")
    _check_contexts(ctx, repo, sha, ref)
    payload = ctx.field("payload", {})
    if isinstance(payload, str):
        payload = payload or {}
    environment = ctx.field("environment") or "production"
    now = ctx.state.clock()
    doc = {
        "id": ctx.state.store.next_id("deployment", 600000000),
        "sha": sha,
        "ref": ref,
        "task": ctx.field("task") or "deploy",
        "payload": payload,
        "environment": environment,
        "description": ctx.field("description"),
        "creator": ctx.actor()["login"],
        "via_app": ctx.principal.kind == "installation",
        "transient_environment": bool(ctx.field("transient_environment", False)),
        "production_environment": bool(
            ctx.field("production_environment", environment == "production")
        ),
        "created_at": now,
        "updated_at": now,
    }
    ctx.state.store.put("deployment", doc["id"], doc, repo["id"])
    return Reply(deployment_shape(ctx, repo, doc), 201)


def list_deployments(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    filters = {name: ctx.query(name) for name in ("sha", "ref", "task", "environment")}
    docs = [
        d
        for d in reversed(ctx.state.store.list("deployment", repo["id"]))
        if all(value is None or d[name] == value for name, value in filters.items())
    ]
    return Paged([deployment_shape(ctx, repo, d) for d in docs])


def _deployment(ctx: Ctx, repo: Doc) -> Doc:
    doc = ctx.state.store.get("deployment", ctx.params["deployment_id"])
    if (
        doc is None
        or doc["sha"] is None
        or doc["id"] not in {d["id"] for d in ctx.state.store.list("deployment", repo["id"])}
    ):
        raise ApiError(404, "Not Found")
    return doc


def get_deployment(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    return deployment_shape(ctx, repo, _deployment(ctx, repo))


def status_shape(ctx: Ctx, repo: Doc, deployment: Doc, doc: Doc) -> Doc:
    api = shapes.repo_api(ctx.base, repo)
    creator = ctx.state.account(doc["creator"]) or ctx.state.actor(None)
    shaped: Doc = {
        "url": f"{api}/deployments/{deployment['id']}/statuses/{doc['id']}",
        "id": doc["id"],
        "node_id": shapes.node_id("DeploymentStatus", doc["id"]),
        "state": doc["state"],
        "creator": shapes.user(ctx.base, creator),
        "description": doc.get("description") or "",
        "environment": doc["environment"],
        "target_url": doc.get("target_url") or "",
        "created_at": shapes.iso(doc["created_at"]),
        "updated_at": shapes.iso(doc["created_at"]),
        "deployment_url": f"{api}/deployments/{deployment['id']}",
        "repository_url": api,
        "environment_url": doc.get("environment_url") or "",
        "performed_via_github_app": _via_app(ctx, doc),
    }
    log_url = doc.get("log_url") or doc.get("target_url")
    if log_url:  # GitHub omits an unset log URL (an empty one is not a URI)
        shaped["log_url"] = log_url
    return shaped


def create_deployment_status(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    deployment = _deployment(ctx, repo)
    state_name = ctx.field("state", required=True)
    if state_name not in DEPLOY_STATES:
        raise ApiError(
            422,
            "Validation Failed",
            [{"resource": "DeploymentStatus", "field": "state", "code": "invalid"}],
        )
    doc = {
        "id": ctx.state.store.next_id("deployment_status", 900000000),
        "state": state_name,
        "creator": ctx.actor()["login"],
        "via_app": ctx.principal.kind == "installation",
        "description": ctx.field("description"),
        "environment": ctx.field("environment") or deployment["environment"],
        "target_url": ctx.field("target_url"),
        "log_url": ctx.field("log_url"),
        "environment_url": ctx.field("environment_url"),
        "created_at": ctx.state.clock(),
    }
    ctx.state.store.put("deployment_status", doc["id"], doc, deployment["id"])
    deployment["updated_at"] = doc["created_at"]
    ctx.state.store.put("deployment", deployment["id"], deployment, repo["id"])
    if state_name == "success" and ctx.field("auto_inactive", True):
        _inactivate_earlier(ctx, repo, deployment, doc)
    shaped = status_shape(ctx, repo, deployment, doc)
    payload = {"deployment_status": shaped, "deployment": deployment_shape(ctx, repo, deployment)}
    ctx.state.emit("deployment_status", "created", payload, repo, ctx.actor())
    return Reply(shaped, 201)


def _inactivate_earlier(ctx: Ctx, repo: Doc, current: Doc, status: Doc) -> None:
    """GitHub's ``auto_inactive``: prior deployments to the same environment whose latest
    status is success get an inactive status, except transient and production ones."""
    for earlier in ctx.state.store.list("deployment", repo["id"]):
        if (
            earlier["id"] == current["id"]
            or earlier["environment"] != current["environment"]
            or earlier.get("transient_environment")
            or earlier.get("production_environment")
        ):
            continue
        statuses = ctx.state.store.list("deployment_status", earlier["id"])
        if not statuses or statuses[-1]["state"] != "success":
            continue
        inactive = {
            **status,
            "id": ctx.state.store.next_id("deployment_status", 900000000),
            "state": "inactive",
            "description": "",
        }
        ctx.state.store.put("deployment_status", inactive["id"], inactive, earlier["id"])


def list_deployment_statuses(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    deployment = _deployment(ctx, repo)
    docs = reversed(ctx.state.store.list("deployment_status", deployment["id"]))
    return Paged([status_shape(ctx, repo, deployment, d) for d in docs])


def get_deployment_status(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    deployment = _deployment(ctx, repo)
    wanted = ctx.params["status_id"]
    for doc in ctx.state.store.list("deployment_status", deployment["id"]):
        if str(doc["id"]) == wanted:
            return status_shape(ctx, repo, deployment, doc)
    raise ApiError(404, "Not Found")


def routes(state: GitHubState) -> list[Route]:
    d = "/repos/{owner}/{repo}/deployments"
    return [
        api_route(state, "POST", d, create_deployment),
        api_route(state, "GET", d, list_deployments),
        api_route(state, "GET", f"{d}/{{deployment_id}}", get_deployment),
        api_route(state, "POST", f"{d}/{{deployment_id}}/statuses", create_deployment_status),
        api_route(state, "GET", f"{d}/{{deployment_id}}/statuses", list_deployment_statuses),
        api_route(
            state, "GET", f"{d}/{{deployment_id}}/statuses/{{status_id}}", get_deployment_status
        ),
    ]
