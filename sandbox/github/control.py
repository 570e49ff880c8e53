"""The control API under ``/_sandbox/`` (loopback only, no GitHub auth): what tests and the
demo use to set the world up and to act as people do.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.github import actions, installs, issues, pulls, pushes
from sandbox.github.delivery import delivery_summary
from sandbox.github.routes_app import new_manifest_code
from sandbox.github.state import GitHubState, StateError

Doc = dict[str, Any]
Action = Callable[[GitHubState, Doc, dict[str, str]], Any]


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("testclient", "localhost")


def control_route(state: GitHubState, method: str, path: str, action: Action) -> Route:
    async def run(request: Request) -> Response:
        if not _loopback(request):
            return JSONResponse({"message": "the control API answers loopback clients only"}, 403)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return JSONResponse({"message": "the body is not JSON"}, 400)
        params = dict(request.path_params) | dict(request.query_params)

        def call() -> Any:
            with state.lock:
                return action(state, body, params)

        try:
            result = await run_in_threadpool(call)
        except StateError as exc:
            return JSONResponse({"message": exc.message, "errors": exc.errors}, exc.status)
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"message": f"bad request: {exc!r}"}, 400)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, 201 if method == "POST" else 200)

    return Route(path, run, methods=[method])


def _user(state: GitHubState, login: str) -> Doc:
    acct = state.account(login)
    if acct is None:
        raise StateError(404, f"no user {login}")
    return acct


def _repo(state: GitHubState, params: dict[str, str]) -> Doc:
    repo = state.repo(params["owner"], params["repo"])
    if repo is None:
        raise StateError(404, f"no repository {params['owner']}/{params['repo']}")
    return repo


def _actor(state: GitHubState, body: Doc) -> Doc:
    return _user(state, body["user"]) if body.get("user") else state.actor(None)


def create_user(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    acct = state.create_user(body["login"], body.get("name"), body.get("email"))
    return {"user": state.user_shape(acct["login"]), "token": state.issue_user_token(acct["login"])}


def create_token(state: GitHubState, _: Doc, params: dict[str, str]) -> Doc:
    return {"token": state.issue_user_token(_user(state, params["login"])["login"])}


def list_installation_tokens(state: GitHubState, _: Doc, __: dict[str, str]) -> list[Doc]:
    """Every installation token issued, for tests that look for leaks."""
    docs = state.store.list("token")
    return [{"token": d["token"]} for d in docs if d.get("kind") == "installation"]


def create_org(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    acct = state.create_org(body["login"])
    return {"id": acct["id"], "login": acct["login"]}


def create_repo(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    repo = state.create_repo(
        body["owner"],
        body["name"],
        private=bool(body.get("private", True)),
        default_branch=body.get("default_branch", "main"),
        files=body.get("files"),
        description=body.get("description"),
    )
    return state.repo_shape(repo)


def fork_repo(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    source = _repo(state, params)
    fork = state.create_repo(
        body["owner"],
        str(body.get("name", source["name"])),
        private=source["private"],
        default_branch=source["default_branch"],
        fork_of=source,
    )
    return state.repo_shape(fork)


def install(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    inst = installs.install(state, body["account"], body.get("repositories"), _actor(state, body))
    return {"id": inst["id"], "repository_ids": inst["repository_ids"]}


def uninstall(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    inst = _installation(state, params)
    installs.uninstall(state, inst, _actor(state, body))
    return {"deleted": inst["id"]}


def _installation(state: GitHubState, params: dict[str, str]) -> Doc:
    inst = state.store.get("installation", params["installation_id"])
    if inst is None:
        raise StateError(404, "no such installation")
    return inst


def change_installation_repos(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    inst = _installation(state, params)
    inst = installs.change_repos(
        state, inst, body.get("add", []), body.get("remove", []), _actor(state, body)
    )
    return {"id": inst["id"], "repository_ids": inst["repository_ids"]}


def installation_token(state: GitHubState, _: Doc, params: dict[str, str]) -> Doc:
    return {"token": state.issue_installation_token(_installation(state, params)["id"])["token"]}


def set_permission(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    state.set_permission(repo, _user(state, params["login"])["login"], body["permission"])
    return {"permission": body["permission"]}


def comment(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    doc = issues.add_comment(state, repo, int(params["number"]), body["body"], _actor(state, body))
    return issues.comment_shape(state, repo, doc)


def open_issue(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    doc = issues.create_issue(state, repo, body["title"], body.get("body"), _actor(state, body))
    return issues.issue_shape(state, repo, doc)


def open_pull(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    head = body["head"] if not body.get("head_owner") else f"{body['head_owner']}:{body['head']}"
    pr = pulls.open_pull(
        state,
        repo,
        head,
        str(body.get("base", repo["default_branch"])),
        str(body.get("title", head)),
        body.get("body"),
        _actor(state, body),
        bool(body.get("draft", False)),
    )
    return pulls.shape(state, pr)


def push(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    sha = pushes.push_files(
        state,
        repo,
        str(body.get("branch", repo["default_branch"])),
        body["files"],
        body.get("message", "Update files"),
        _actor(state, body),
        body.get("from"),
    )
    return {"sha": sha}


def review(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    pr = pulls.get_pull(state, repo, int(params["number"]))
    doc = pulls.create_review(
        state, repo, pr, _actor(state, body), body.get("event", "APPROVE"), body.get("body")
    )
    return pulls.review_shape(state, repo, doc)


def merge(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    pr = pulls.get_pull(state, repo, int(params["number"]))
    sha = pulls.merge_pull(state, repo, pr, _actor(state, body), body.get("merge_method", "merge"))
    return {"sha": sha, "merged": True}


def simulate_ci(state: GitHubState, body: Doc, params: dict[str, str]) -> Doc:
    repo = _repo(state, params)
    conclusion = body.get("conclusion", "success")
    run = actions.simulate_run(
        state,
        repo,
        body["sha"],
        conclusion,
        _actor(state, body),
        body.get("branch"),
        body.get("event", "push"),
    )
    return actions.run_shape(state, repo, run)


def app_info(state: GitHubState, _: Doc, __: dict[str, str]) -> Doc:
    return {
        "id": state.app_id,
        "slug": state.app_slug,
        "webhook_url": state.webhook_url,
        "webhook_secret": state.webhook_secret,
        "private_key_pem": state.private_key_pem,
        "private_key_path": str(state.private_key_path),
    }


def set_webhook(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    state.set_webhook(body.get("url"), body.get("secret"))
    return {"webhook_url": state.webhook_url}


def list_deliveries(state: GitHubState, _: Doc, params: dict[str, str]) -> list[Doc]:
    docs = state.webhooks.deliveries()
    if params.get("event"):
        docs = [d for d in docs if d["event"] == params["event"]]
    return [delivery_summary(d) | {"payload": d["request"]["payload"]} for d in docs]


def get_delivery(state: GitHubState, _: Doc, params: dict[str, str]) -> Doc:
    doc = state.store.get("delivery", params["delivery_id"])
    if doc is None:
        raise StateError(404, "no such delivery")
    return doc


def redeliver(state: GitHubState, _: Doc, params: dict[str, str]) -> Doc:
    try:
        return delivery_summary(state.webhooks.redeliver(int(params["delivery_id"])))
    except KeyError as exc:
        raise StateError(404, "no such delivery") from exc


def requests_log(state: GitHubState, _: Doc, params: dict[str, str]) -> list[Doc]:
    return state.requests.entries(params.get("method", "*"), params.get("route", "*"))


def reset_requests(state: GitHubState, _: Doc, __: dict[str, str]) -> Doc:
    state.requests.reset()
    return {"reset": True}


def add_fault(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    return state.faults.add(**body).__dict__


def list_faults(state: GitHubState, _: Doc, __: dict[str, str]) -> list[Doc]:
    return state.faults.describe()


def reset_faults(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    state.faults.reset(body.get("seed"))
    return {"reset": True}


def set_rate_remaining(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    state.rate.set_remaining(
        f"installation:{body['installation_id']}", int(body["remaining"]), state.clock()
    )
    return {"remaining": int(body["remaining"])}


def manifest_code(state: GitHubState, body: Doc, _: dict[str, str]) -> Doc:
    return {"code": new_manifest_code(state, body.get("manifest") or {})}


def _flush_route(state: GitHubState) -> Route:
    async def run(request: Request) -> Response:
        if not _loopback(request):
            return JSONResponse({"message": "the control API answers loopback clients only"}, 403)
        done = await run_in_threadpool(state.webhooks.flush, 30.0)
        return JSONResponse({"flushed": done}, 200 if done else 504)

    return Route("/_sandbox/webhooks/flush", run, methods=["POST"])


def routes(state: GitHubState) -> list[Route]:
    s, r = "/_sandbox", "/_sandbox/repos/{owner}/{repo}"
    table: list[tuple[str, str, Action]] = [
        ("GET", f"{s}/app", app_info),
        ("PUT", f"{s}/webhook", set_webhook),
        ("POST", f"{s}/users", create_user),
        ("POST", f"{s}/users/{{login}}/tokens", create_token),
        ("GET", f"{s}/installation-tokens", list_installation_tokens),
        ("POST", f"{s}/orgs", create_org),
        ("POST", f"{s}/repos", create_repo),
        ("POST", f"{r}/forks", fork_repo),
        ("PUT", f"{r}/permissions/{{login}}", set_permission),
        ("POST", f"{r}/issues", open_issue),
        ("POST", f"{r}/issues/{{number}}/comments", comment),
        ("POST", f"{r}/pulls", open_pull),
        ("POST", f"{r}/pulls/{{number}}/reviews", review),
        ("POST", f"{r}/pulls/{{number}}/merge", merge),
        ("POST", f"{r}/push", push),
        ("POST", f"{r}/ci", simulate_ci),
        ("POST", f"{s}/installations", install),
        ("DELETE", f"{s}/installations/{{installation_id}}", uninstall),
        ("POST", f"{s}/installations/{{installation_id}}/repositories", change_installation_repos),
        ("POST", f"{s}/installations/{{installation_id}}/tokens", installation_token),
        ("GET", f"{s}/webhooks/deliveries", list_deliveries),
        ("GET", f"{s}/webhooks/deliveries/{{delivery_id}}", get_delivery),
        ("POST", f"{s}/webhooks/deliveries/{{delivery_id}}/redeliver", redeliver),
        ("GET", f"{s}/requests", requests_log),
        ("DELETE", f"{s}/requests", reset_requests),
        ("POST", f"{s}/faults", add_fault),
        ("GET", f"{s}/faults", list_faults),
        ("DELETE", f"{s}/faults", reset_faults),
        ("PUT", f"{s}/rate-limit", set_rate_remaining),
        ("POST", f"{s}/app-manifests", manifest_code),
    ]
    return [_flush_route(state)] + [control_route(state, m, p, a) for m, p, a in table]
