"""Check GraphQL exchanges with GitHub against GitHub's published GraphQL schema.

Uses the trimmed copy in tests/fixtures/reference/github/graphql/schema.graphql (made by
tests/tools/extract_github_graphql.py from `@octokit/graphql-schema`):
- `query_errors(query)`: the query parses and validates (known fields, arguments and types,
  variables used as declared), and uses no deprecated field;
- `answer_errors(...)`: an answer has GitHub's shape for that query. The query is executed
  again by graphql-core with the answer's own data as the source, every field read by its
  response key; graphql-core then checks each value against the schema (nulls where the
  schema says non-null, enum values, object types by `__typename`), and the data it
  rebuilds must equal the answer's (no field that was not asked for, nothing left out);
- `GitHubExchangeRecorder`: `ExchangeRecorder` (tests/support/github_openapi.py) that checks
  `POST .../graphql` exchanges with the above and every other one against the REST
  description, so one recorder covers everything the adapter sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    NoDeprecatedCustomRule,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
    visit,
)

from tests.support.github_openapi import Exchange, ExchangeRecorder

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "fixtures/reference/github/graphql/schema.graphql"
)
# Where GitHub serves GraphQL: below the API root, and /api/graphql on Enterprise Server.
GRAPHQL_PATHS = ("/graphql", "/api/graphql")


@cache
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


def query_errors(query: str) -> list[str]:
    """Why GitHub's schema refuses `query` (empty when it is valid)."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return [f"query: {error.message}"]
    rules = [*specified_rules, NoDeprecatedCustomRule]
    return [f"query: {error.message}" for error in validate(schema(), document, rules)]


def selected_fields(on: GraphQLSchema, queries: Iterable[str]) -> dict[str, set[str]]:
    """Type name -> names of the fields the queries select on it (in fragments too)."""
    used: dict[str, set[str]] = {}
    for text in queries:
        info = TypeInfo(on)
        visit(parse(text), TypeInfoVisitor(info, _Collect(info, used)))
    return used


class _Collect(Visitor):
    """Records each field selected, on the type it is selected on."""

    def __init__(self, info: TypeInfo, used: dict[str, set[str]]):
        super().__init__()
        self.info, self.used = info, used

    def enter_field(self, node: FieldNode, *_: object) -> None:
        parent = self.info.get_parent_type()
        if parent is not None and not node.name.value.startswith("__"):
            self.used.setdefault(parent.name, set()).add(node.name.value)


def _by_response_key(source: Any, info: GraphQLResolveInfo, **_: Any) -> Any:
    return source.get(info.path.key) if isinstance(source, Mapping) else None


def answer_errors(
    query: str,
    variables: Mapping[str, Any] | None,
    answer: Any,
    operation_name: str | None = None,
) -> list[str]:
    """Why `answer` is not a GitHub answer to `query` (empty when it is)."""
    problems = query_errors(query)
    if problems:
        return problems
    if not isinstance(answer, Mapping) or not ({"data", "errors"} & answer.keys()):
        return ["answer: neither data nor errors"]
    errors = answer.get("errors")
    if errors is not None:
        if not isinstance(errors, list) or not errors:
            return ["answer: errors is not a non-empty list"]
        for error in errors:
            if not isinstance(error, Mapping) or not isinstance(error.get("message"), str):
                problems.append(f"answer: an error without a message: {error!r}")
    data = answer.get("data")
    if data is None:
        return problems + ([] if errors else ["answer: no data and no errors"])
    result = execute(
        schema(),
        parse(query),
        root_value=data,
        variable_values=dict(variables or {}),
        operation_name=operation_name,
        field_resolver=_by_response_key,
    )
    assert isinstance(result, ExecutionResult)
    # Where the answer itself reported an error, a null is the schema's way to say so.
    reported = {tuple(e.get("path") or ()) for e in errors or [] if isinstance(e, Mapping)}
    for error in result.errors or []:
        if tuple(error.path or ()) not in reported:
            where = ".".join(str(p) for p in error.path or ()) or "data"
            problems.append(f"answer: {where}: {error.message}")
    if not result.errors and result.data != data:
        problems.append("answer: data differs from what the query selects")
    return problems


def exchange_errors(request_body: bytes | None, status: int, response_body: bytes) -> list[str]:
    """Violations in one `POST /graphql` exchange, request and answer."""
    try:
        request = json.loads(request_body or b"")
    except ValueError:
        return ["request body is not JSON"]
    if not isinstance(request, Mapping) or not isinstance(request.get("query"), str):
        return ["request body has no query"]
    query, variables = request["query"], request.get("variables")
    try:
        answer = json.loads(response_body)
    except ValueError:
        return [*query_errors(query), f"status {status}: answer is not JSON"]
    if status != 200:
        # Authentication, rate limits and server errors are answered like REST ones.
        if not isinstance(answer, Mapping) or not isinstance(answer.get("message"), str):
            return [*query_errors(query), f"status {status}: the answer has no message"]
        return query_errors(query)
    return answer_errors(query, variables, answer, request.get("operationName"))


def is_graphql(method: str, url: str, base_url: str | None) -> bool:
    path = urlsplit(url).path
    base = urlsplit(base_url).path.rstrip("/") if base_url else ""
    return method.upper() == "POST" and any(path in (base + p, p) for p in GRAPHQL_PATHS)


@dataclass
class GraphQLExchange:
    """A GraphQL request and its answer, decoded."""

    operation: str | None
    variables: dict[str, Any]
    status: int
    answer: Any


def operation_name(query: str, given: Any = None) -> str | None:
    """The name of the operation a request runs: `operationName`, else the query's own."""
    if isinstance(given, str):
        return given
    try:
        operation = get_operation_ast(parse(query))
    except GraphQLError:
        return None
    return operation.name.value if operation is not None and operation.name else None


@dataclass
class GitHubExchangeRecorder(ExchangeRecorder):
    """`ExchangeRecorder` that also checks GraphQL exchanges (against the GraphQL schema);
    `graphql` keeps them decoded, `operation_id` is `graphql <operation name>`."""

    graphql: list[GraphQLExchange] = field(default_factory=list)

    def record(
        self,
        method: str,
        url: str,
        request_headers: Mapping[str, str],
        request_body: bytes | None,
        status: int,
        response_headers: Mapping[str, str],
        response_body: bytes,
    ) -> Exchange | None:
        if not is_graphql(method, url, self.base_url):
            return super().record(
                method,
                url,
                request_headers,
                request_body,
                status,
                response_headers,
                response_body,
            )
        try:
            request = json.loads(request_body or b"{}")
            answer = json.loads(response_body)
        except ValueError:
            request, answer = {}, None
        request = request if isinstance(request, dict) else {}
        query = request.get("query")
        name = operation_name(query, request.get("operationName")) if query else None
        variables = request.get("variables") if isinstance(request.get("variables"), dict) else {}
        self.graphql.append(GraphQLExchange(name, variables, status, answer))
        violations = [
            f"POST /graphql: {v}" for v in exchange_errors(request_body, status, response_body)
        ]
        exchange = Exchange("POST", url, status, f"graphql {name or ''}".strip(), violations)
        self.exchanges.append(exchange)
        return exchange
