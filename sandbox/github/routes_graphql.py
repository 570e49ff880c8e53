"""GraphQL: ``POST /graphql``, executed by graphql-core against GitHub's own schema.

The schema is ``schema.graphql`` next to this file: GitHub's published schema
(``@octokit/graphql-schema``), trimmed to what AutoStack queries by
tests/tools/extract_github_graphql.py. graphql-core parses, validates and executes each
query against it, so an answer can only have GitHub's shape. The resolvers read the same
state the REST routes do (pull requests, reviews, commit statuses, check runs), so both
APIs tell the same story.

Like GitHub: errors in a query are answered with HTTP 200 and an ``errors`` list (a thing
that is not there has ``"type": "NOT_FOUND"``), authentication is the REST API's, and the
GraphQL budget is separate from the REST one (``X-RateLimit-Resource: graphql``); once
spent, queries are answered 200 with a ``RATE_LIMITED`` error. Faults and the request log
come from the middleware, as for every route (the route template is ``/graphql``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.github import commits, pulls, shapes
from sandbox.github.api import (
    ApiError,
    Ctx,
    Principal,
    _read_json,
    authenticate,
    error_body,
    json_response,
)
from sandbox.github.routes_checks import latest_statuses
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
MAX_PAGE = 100  # GitHub's limit on `first` and `last`
DOCS = "https://docs.github.com/graphql"
NO_QUERY = "A query attribute must be specified and must be a string."


@cache
def schema() -> GraphQLSchema:
    """GitHub's trimmed schema, parsed and checked once per process."""
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


class QueryError(Exception):
    """An error GitHub reports with a ``type`` (``NOT_FOUND``, ``EXCESSIVE_PAGINATION``...)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# --- answering one query ------------------------------------------------------------------


def answer(ctx: Ctx, body: Any) -> Doc:
    """The JSON answer to one request body ``{"query": ..., "variables": ...}``."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": NO_QUERY}]}
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return {"errors": [{"message": "Variables are invalid JSON."}]}
    try:
        document = parse(body["query"])
    except GraphQLError as error:
        return {"errors": [formatted(error)]}
    invalid = validate(schema(), document)
    if invalid:
        return {"errors": [formatted(e) for e in invalid]}
    result = execute(
        schema(),
        document,
        root_value=Root(ctx),
        variable_values=variables,
        operation_name=body.get("operationName"),
    )
    assert isinstance(result, ExecutionResult)  # every resolver is synchronous
    doc: Doc = {}
    if result.errors:
        doc["errors"] = [formatted(e) for e in result.errors]
    doc["data"] = result.data
    return doc


def formatted(error: GraphQLError) -> Doc:
    """An error as GitHub spells it: ``type`` (when it has one), ``path``, ``locations``."""
    doc: Doc = {}
    original = error.original_error
    if isinstance(original, QueryError):
        doc["type"] = original.kind
    if error.path:
        doc["path"] = list(error.path)
    if error.locations:
        doc["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    doc["message"] = error.message
    return doc


# --- the resolvers: plain dictionaries, callables where a field takes arguments ------------
# graphql-core's default resolver reads a dictionary's key and calls it when it is callable
# (with ``info`` and the field's arguments); abstract types are told by ``__typename``.


class Root(dict[str, Any]):
    """The ``Query`` type."""

    def __init__(self, ctx: Ctx):
        super().__init__(repository=lambda _, owner, name, **__: repository(ctx, owner, name))


def repository(ctx: Ctx, owner: str, name: str) -> Doc:
    repo = ctx.state.repo(owner, name)
    if repo is None or not ctx.can_see(repo):
        raise QueryError(
            "NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'."
        )
    return {
        "nameWithOwner": shapes.full_name(repo),
        "pullRequest": lambda _, number: pull_request(ctx, repo, number),
        "object": lambda _, expression=None, oid=None: git_object(ctx, repo, oid or expression),
    }


def pull_request(ctx: Ctx, repo: Doc, number: int) -> Doc:
    pr = ctx.state.store.get("pull", pulls.key(repo, number))
    if pr is None:
        raise QueryError(
            "NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}."
        )
    state = ctx.state
    head_repo = state.repo_by_id(pr["head_repo_id"])
    merged = bool(pr.get("merged"))
    return {
        "number": pr["number"],
        "state": "MERGED" if merged else str(pr["state"]).upper(),
        "merged": merged,
        "url": f"{state.public_url}/{shapes.full_name(repo)}/pull/{pr['number']}",
        "headRefName": pr["head_ref"],
        "headRefOid": pr["head_sha"],
        "baseRefName": pr["base_ref"],
        "isCrossRepository": pr["head_repo_id"] != repo["id"],
        "headRepository": {"nameWithOwner": shapes.full_name(head_repo)} if head_repo else None,
        "author": actor(ctx, pr["user"]),
        "reviews": lambda _, **page: connection(
            "reviews", [review(ctx, r) for r in pulls.reviews(state, repo, pr)], page
        ),
        "statusCheckRollup": lambda _: rollup(ctx, repo, pr["head_sha"]),
    }


def review(ctx: Ctx, doc: Doc) -> Doc:
    return {
        "fullDatabaseId": str(doc["id"]),
        "state": doc["state"],
        "submittedAt": shapes.iso(doc["submitted_at"]),
        "author": actor(ctx, doc["user"]),
    }


def actor(ctx: Ctx, login: str) -> Doc:
    """An ``Actor``; GitHub names a bot without the ``[bot]`` that REST adds."""
    account = ctx.state.account(login)
    if account is None and login.endswith("[bot]"):
        return {"__typename": "Bot", "login": login.removesuffix("[bot]")}
    kind = (account or {}).get("type")
    typename = kind if kind in ("Bot", "Organization") else "User"
    return {"__typename": typename, "login": (account or {}).get("login", login)}


def git_object(ctx: Ctx, repo: Doc, rev: str | None) -> Doc | None:
    """A commit by sha or revision; None (GitHub's null, no error) when there is none."""
    sha = commits.resolve(ctx.state.repo_path(repo), rev) if rev else None
    if sha is None:
        return None
    return {
        "__typename": "Commit",
        "oid": sha,
        "statusCheckRollup": lambda _: rollup(ctx, repo, sha),
    }


def rollup(ctx: Ctx, repo: Doc, sha: str) -> Doc | None:
    """The commit's check runs and latest status per context, as the REST routes list them;
    None when nothing has reported on it (GitHub's rollup is null then)."""
    runs = [
        check_run(ctx, doc)
        for doc in reversed(ctx.state.store.list("check_run", repo["id"]))
        if doc["head_sha"] == sha
    ]
    statuses = [status_context(doc) for doc in latest_statuses(ctx.state, repo, sha)]
    if not runs and not statuses:
        return None
    contexts = runs + statuses
    return {"contexts": lambda _, **page: connection("contexts", contexts, page)}


def check_run(ctx: Ctx, doc: Doc) -> Doc:
    conclusion = doc.get("conclusion")
    return {
        "__typename": "CheckRun",
        "name": doc["name"],
        "status": str(doc["status"]).upper(),
        "conclusion": str(conclusion).upper() if conclusion else None,
        # Every check run here is made by the App through the REST API.
        "checkSuite": {"app": {"databaseId": ctx.state.app_id}},
    }


def status_context(doc: Doc) -> Doc:
    return {"__typename": "StatusContext", "context": doc["context"], "state": doc["state"].upper()}


# --- connections ---------------------------------------------------------------------------


def cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _offset(value: str, name: str) -> int:
    try:
        kind, _, index = base64.b64decode(value, validate=True).decode().rpartition(":")
        if kind == "cursor:v2":
            return int(index)
    except (ValueError, UnicodeDecodeError):
        pass
    raise QueryError("INVALID_CURSOR_ARGUMENTS", f"`{value}` does not appear to be a valid cursor.")


def connection(name: str, items: Sequence[Doc], page: dict[str, Any]) -> Doc:
    """One page of ``items`` for ``first``/``after`` (or ``last``/``before``), as GitHub
    pages its connections: at most 100 a page, and ``first`` or ``last`` required."""
    first, last = page.get("first"), page.get("last")
    if first is None and last is None:
        raise QueryError(
            "MISSING_PAGINATION_BOUNDARIES",
            f"You must provide a `first` or `last` value to properly paginate the `{name}` "
            "connection.",
        )
    for argument, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise QueryError(
                "EXCESSIVE_PAGINATION",
                f"Requesting {value} records on the `{name}` connection exceeds the "
                f"`{argument}` limit of {MAX_PAGE} records.",
            )
    start, end = 0, len(items)
    if page.get("after") is not None:
        start = max(start, _offset(page["after"], name) + 1)
    if page.get("before") is not None:
        end = min(end, _offset(page["before"], name))
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    chosen = range(start, max(start, end))
    return {
        "nodes": [items[i] for i in chosen],
        "pageInfo": {
            "hasNextPage": max(start, end) < len(items),
            "endCursor": cursor(chosen[-1]) if chosen else None,
        },
    }


# --- the route -----------------------------------------------------------------------------


def _budget_key(principal: Principal) -> str:
    return f"graphql:{principal.rate_key}"


def _limited(principal: Principal) -> str:
    if principal.kind == "installation":
        return f"API rate limit exceeded for installation ID {principal.installation_id}."
    return f"API rate limit exceeded for user ID {principal.login}."


def endpoint(state: GitHubState) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        try:
            principal = authenticate(state, request, "token")
            if principal.kind == "anonymous":
                raise ApiError(401, "This endpoint requires you to be authenticated.", doc=DOCS)
            request.scope["sandbox.principal"] = principal
            ok, budget = state.rate.consume(_budget_key(principal), state.clock())
            headers = budget.headers() | {"X-RateLimit-Resource": "graphql"}
            if not ok:
                limited = {"errors": [{"type": "RATE_LIMITED", "message": _limited(principal)}]}
                return json_response(200, limited, headers)
            ctx = Ctx(state, request, {}, principal, await _read_json(request))
            doc = await run_in_threadpool(_locked, state, ctx)
            return json_response(200, doc, headers)
        except ApiError as exc:
            body = error_body(exc.status, exc.message, exc.errors, exc.doc)
            return json_response(exc.status, body, exc.headers)

    return run


def _locked(state: GitHubState, ctx: Ctx) -> Doc:
    with state.lock:
        return answer(ctx, ctx.body)


def routes(state: GitHubState) -> list[Route]:
    return [Route("/graphql", endpoint(state), methods=["POST"])]
