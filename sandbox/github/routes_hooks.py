"""REST: the App's webhook delivery log and redelivery (``/app/hook/deliveries``)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def delivery_item(doc: Doc) -> Doc:
    return {
        "id": doc["id"],
        "guid": doc["guid"],
        "delivered_at": shapes.iso(doc["delivered_at"] or 0),
        "redelivery": doc["redelivery"],
        "duration": doc["duration"] or 0,
        "status": doc["status"],
        "status_code": doc["status_code"],
        "event": doc["event"],
        "action": doc["action"],
        "installation_id": doc["installation_id"],
        "repository_id": doc["repository_id"],
        "throttled_at": None,
    }


def list_deliveries(ctx: Ctx) -> Paged:
    docs = list(reversed(ctx.state.webhooks.deliveries()))
    wanted = ctx.query("status")
    if wanted == "success":
        docs = [d for d in docs if 200 <= d["status_code"] < 300]
    elif wanted == "failure":
        docs = [d for d in docs if not 200 <= d["status_code"] < 300]
    return Paged([delivery_item(d) for d in docs])


def _delivery(ctx: Ctx) -> Doc:
    doc = ctx.state.store.get("delivery", ctx.params["delivery_id"])
    if doc is None:
        raise ApiError(404, "Not Found")
    return doc


def get_delivery(ctx: Ctx) -> Doc:
    doc = _delivery(ctx)
    item = delivery_item(doc)
    item["url"] = ctx.state.webhook_url or ""
    item["request"] = doc["request"]
    item["response"] = doc["response"]
    return item


def redeliver(ctx: Ctx) -> Reply:
    ctx.state.webhooks.redeliver(_delivery(ctx)["id"])
    return Reply({}, 202)


def routes(state: GitHubState) -> list[Route]:
    d = "/app/hook/deliveries"
    return [
        api_route(state, "GET", d, list_deliveries, auth="app"),
        api_route(state, "GET", f"{d}/{{delivery_id}}", get_delivery, auth="app"),
        api_route(state, "POST", f"{d}/{{delivery_id}}/attempts", redeliver, auth="app"),
    ]
