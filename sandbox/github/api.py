"""The REST framework under every sandbox endpoint: authentication, rate limits, pagination,
ETags, GitHub's error bodies, and the request log with fault injection around it all.

Handlers are plain functions ``handler(ctx) -> body | Reply | Paged`` run in a worker thread
under the state lock, so each request sees and leaves consistent state.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.github.identity import JWTRejected, verify_app_jwt
from sandbox.github.state import GitHubState, StateError
from sandbox.github.store import Doc

DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID {}."
)


class ApiError(Exception):
    """An error answer in GitHub's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Doc] | None = None,
        headers: dict[str, str] | None = None,
        doc: str = DOCS,
    ):
        super().__init__(message)
        self.status, self.message, self.errors, self.doc = status, message, errors, doc
        self.headers = headers or {}


def error_body(status: int, message: str, errors: list[Doc] | None = None, doc: str = DOCS) -> Doc:
    body: Doc = {"message": message, "documentation_url": doc}
    if errors:
        body["errors"] = errors
    body["status"] = str(status)
    return body


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    all_headers = {"X-GitHub-Media-Type": "github.v3; format=json"}
    all_headers.update(headers or {})
    media = "application/json; charset=utf-8" if body is not None else None
    return Response(content, status, all_headers, media_type=media)


def validation_failed(message: str, resource: str = "", field_name: str = "") -> ApiError:
    error: Doc = {"resource": resource, "code": "custom", "message": message}
    if field_name:
        error["field"] = field_name
    return ApiError(422, "Validation Failed", [error])


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Paged:
    """A list answer; the framework slices it by ``page``/``per_page`` and adds ``Link``."""

    items: list[Any]
    key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Principal:
    kind: str  # "app", "installation", "user" or "anonymous"
    login: str | None = None
    installation_id: int | None = None
    token: Doc | None = None

    @property
    def rate_key(self) -> str:
        if self.kind == "installation":
            return f"installation:{self.installation_id}"
        if self.kind == "user":
            return f"user:{(self.login or '').lower()}"
        return self.kind


@dataclass
class Ctx:
    state: GitHubState
    request: Request
    params: dict[str, str]
    principal: Principal
    body: Any

    @property
    def base(self) -> str:
        return self.state.public_url

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def field(self, name: str, default: Any = None, required: bool = False) -> Any:
        body = self.body if isinstance(self.body, dict) else {}
        if required and body.get(name) in (None, ""):
            raise ApiError(422, 'Invalid request.\n\n"' + name + "\" wasn't supplied.")
        return body.get(name, default)

    def can_see(self, repo: Doc) -> bool:
        p = self.principal
        if p.kind == "installation" and p.token is not None:
            return repo["id"] in self.state.token_repository_ids(p.token)
        if p.kind == "user" and p.login:
            return self.state.permission_of(repo, p.login) != "none"
        return p.kind == "anonymous" and not repo["private"]

    def repo(self) -> Doc:
        """The ``{owner}/{repo}`` of the path, hidden (404) unless the caller may see it."""
        repo = self.state.repo(self.params["owner"], self.params["repo"])
        if repo is None or not self.can_see(repo):
            raise ApiError(404, "Not Found")
        return repo

    def writable_repo(self) -> Doc:
        repo = self.repo()
        p = self.principal
        if p.kind == "user" and p.login:
            if self.state.permission_of(repo, p.login) not in ("write", "maintain", "admin"):
                raise ApiError(403, "Must have push access to this repository.")
        elif p.kind != "installation":
            raise ApiError(401, "Requires authentication")
        return repo

    def actor(self) -> Doc:
        return self.state.actor(self.principal.login if self.principal.kind == "user" else None)


Handler = Callable[[Ctx], Any]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme in ("token", "bearer"):
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except ValueError:
            return ""
        return decoded.partition(":")[2]
    return None


def authenticate(state: GitHubState, request: Request, auth: str) -> Principal:
    """Who is calling; raises 401 for bad or missing credentials where they are needed."""
    credential = _bearer(request)
    if auth == "none":
        return Principal("anonymous")
    if credential is None:
        if auth == "app":
            raise ApiError(401, "A JSON web token could not be decoded")
        return Principal("anonymous")
    if credential.count(".") == 2:
        identity = state.identity
        try:
            verify_app_jwt(credential, identity.public_key_pem, identity.app_id, state.clock())
        except JWTRejected as exc:
            raise ApiError(401, str(exc)) from exc
        if auth != "app":
            raise ApiError(403, "Resource not accessible by integration")
        return Principal("app")
    if auth == "app":
        raise ApiError(401, "A JSON web token could not be decoded")
    token = state.resolve_token(credential)
    if token is None:
        raise ApiError(401, "Bad credentials")
    if token["kind"] == "installation":
        return Principal("installation", installation_id=token["installation_id"], token=token)
    return Principal("user", login=token["login"], token=token)


def _page_links(request: Request, page: int, per_page: int, last: int) -> str:
    def link(number: int) -> str:
        params = dict(request.query_params)
        params.update(per_page=str(per_page), page=str(number))
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        return f"<{url}?{urlencode(params)}>"

    rels = []
    if page > 1:
        rels += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
    if page < last:
        rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
    return ", ".join(rels)


def paginate(request: Request, paged: Paged) -> Reply:
    try:
        per_page = min(max(int(request.query_params.get("per_page", 30)), 1), 100)
        page = max(int(request.query_params.get("page", 1)), 1)
    except ValueError as exc:
        raise ApiError(422, "Invalid request.\n\nFor 'page', is not an integer.") from exc
    last = max((len(paged.items) + per_page - 1) // per_page, 1)
    chunk = paged.items[(page - 1) * per_page : page * per_page]
    body: Any = chunk
    if paged.key is not None:
        body = {"total_count": len(paged.items), **paged.extra, paged.key: chunk}
    links = _page_links(request, page, per_page, last)
    return Reply(body, 200, {"Link": links} if links else {})


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "Problems parsing JSON") from exc


def _etagged(request: Request, reply: Reply) -> Response:
    if request.method != "GET" or reply.status != 200:
        return json_response(reply.status, reply.body, reply.headers)
    content = json.dumps(reply.body, separators=(",", ":")).encode()
    etag = 'W/"' + hashlib.sha256(content).hexdigest() + '"'
    headers = dict(
        reply.headers, ETag=etag, **{"Cache-Control": "private, max-age=60, s-maxage=60"}
    )
    if etag in request.headers.get("if-none-match", ""):
        request.scope["sandbox.not_modified"] = True
        return Response(b"", 304, {k: v for k, v in headers.items() if k != "Link"})
    return json_response(200, reply.body, headers)


def endpoint(state: GitHubState, handler: Handler, auth: str) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        rate_headers: dict[str, str] = {}
        try:
            principal = authenticate(state, request, auth)
            request.scope["sandbox.principal"] = principal
            rate_headers = _spend(state, request, principal)
            ctx = Ctx(state, request, dict(request.path_params), principal, None)
            ctx.body = await _read_json(request)
            result = await run_in_threadpool(_locked, state, handler, ctx)
            reply = result if isinstance(result, Reply) else Reply(result)
            if isinstance(reply.body, Paged):
                paged = paginate(request, reply.body)
                reply = Reply(paged.body, reply.status, {**reply.headers, **paged.headers})
            response = _etagged(request, reply)
        except ApiError as exc:
            body = error_body(exc.status, exc.message, exc.errors, exc.doc)
            response = json_response(exc.status, body, exc.headers)
        except StateError as exc:
            response = json_response(exc.status, error_body(exc.status, exc.message, exc.errors))
        rate_headers.update(_charge_conditional(state, request, response.status_code))
        for name, value in rate_headers.items():
            response.headers.setdefault(name, value)
        return response

    return run


def _locked(state: GitHubState, handler: Handler, ctx: Ctx) -> Any:
    with state.lock:
        return handler(ctx)


def _spend(state: GitHubState, request: Request, principal: Principal) -> dict[str, str]:
    """Charge the request to its rate-limit budget; a conditional request is charged later,
    only if it is not answered 304 (those are free on GitHub), and ``/rate_limit`` is free."""
    now = state.clock()
    if request.headers.get("if-none-match") or request.url.path == "/rate_limit":
        budget = state.rate.peek(principal.rate_key, now)
        ok = budget.remaining > 0 or request.url.path == "/rate_limit"
    else:
        ok, budget = state.rate.consume(principal.rate_key, now)
    if not ok:
        raise ApiError(403, _limit_message(principal), headers=budget.headers(), doc=RATE_DOCS)
    return budget.headers()


def _charge_conditional(state: GitHubState, request: Request, status: int) -> dict[str, str]:
    principal = request.scope.get("sandbox.principal")
    if principal is None or status == 304 or not request.headers.get("if-none-match"):
        return {}
    return state.rate.consume(principal.rate_key, state.clock())[1].headers()


def _limit_message(principal: Principal) -> str:
    if principal.kind == "installation":
        return f"API rate limit exceeded for installation ID {principal.installation_id}."
    return "API rate limit exceeded for user."


def api_route(
    state: GitHubState, method: str, path: str, handler: Handler, auth: str = "token"
) -> Route:
    return Route(path, endpoint(state, handler, auth), methods=[method])
