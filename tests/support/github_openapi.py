"""Check HTTP exchanges with GitHub's REST API against GitHub's official OpenAPI description.

Uses the trimmed copy in tests/fixtures/reference/github/openapi.json: find the operation for
a method and URL, validate parameters, bodies, status codes and content types, and return
readable violations (an empty list means the exchange conforms). Recorders at the end attach
the checks to httpx clients (any transport, ASGI included), `requests` sessions and PyGithub.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import requests
import requests.adapters
from jsonschema import _keywords as jsonschema_keywords
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import extend
from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)
from openapi_schema_validator import _keywords as oas_keywords
from referencing import Registry, Resource

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures/reference/github/openapi.json"
SPEC_URI = "urn:autostack:github-openapi"
# Where GitHub Enterprise Server mounts the REST API; tried when no base URL is configured.
DEFAULT_BASE_PATHS = ("", "/api/v3")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
MAX_SCHEMA_ERRORS = 10


@dataclass(frozen=True)
class Deviation:
    """A difference between GitHub's description and GitHub's behaviour that we accept.

    `message` drops matching violations; None means the validator itself handles the case.
    """

    message: re.Pattern[str] | None
    reason: str


KNOWN_DEVIATIONS: list[Deviation] = [
    Deviation(
        re.compile(r"response body: \$\S*\.requested_teams\[\d+\]: 'type' is a required"),
        "GitHub's own pull-request examples (and the API) omit `type` in `requested_teams[]`, "
        "which the `team` schema requires.",
    ),
    Deviation(
        None,
        "`nullable: true` next to an `enum` without null (check-run `conclusion`, ...) accepts "
        "null: GitHub sends null there (an in-progress check run has no conclusion), although "
        "OpenAPI 3.0.3 read strictly would refuse it.",
    ),
    Deviation(
        None,
        "A `discriminator` applies only to objects: GitHub puts one on the contents union, "
        "whose directory member is an array without the discriminating property.",
    ),
    Deviation(
        None,
        "Statuses in GENERIC_STATUSES are accepted on every operation (see there).",
    ),
    Deviation(
        None,
        "Statuses in UNDOCUMENTED_STATUSES are accepted on their operation (see there).",
    ),
    Deviation(
        None,
        "Custom media types (RAW_MEDIA_TYPE) are accepted on 2xx responses without a check.",
    ),
]
# Statuses GitHub may answer on any operation, documented once for the whole API rather
# than per operation ("Troubleshooting", "Rate limits", "Conditional requests",
# "Client errors"): not modified, malformed JSON, bad credentials, forbidden or primary
# rate limit, not visible to these credentials, invalid fields, secondary rate limit, and
# server errors. Their bodies, when JSON, must still look like `basic-error`.
GENERIC_STATUSES = frozenset({304, 400, 401, 403, 404, 422, 429, 500, 502, 503, 504})
# Statuses one operation answers that its description leaves out; bodies as above.
UNDOCUMENTED_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    # A variable of that name exists: 409 Conflict ("Already exists"); `gh variable set`
    # relies on it to fall back to PATCH.
    ("POST", "/repos/{owner}/{repo}/actions/variables"): frozenset({409}),
}
# Custom media types a client can ask for with `Accept` (raw file, diff, patch, sha, html):
# they are not JSON and the description does not list them on every operation.
RAW_MEDIA_TYPE = re.compile(r"^application/vnd\.github(\.[\w-]+)*\.(raw|diff|patch|sha|html)$")


@dataclass(frozen=True)
class Parameter:
    """A path, query or header parameter and where its schema is in the description."""

    name: str
    location: str
    required: bool
    schema: dict[str, Any]
    schema_pointer: str
    # `x-multi-segment`: a path parameter that may hold slashes (file paths, refs).
    multi_segment: bool


@dataclass(frozen=True)
class Operation:
    """One operation of the description, with what is needed to route and validate it."""

    method: str
    template: str
    operation_id: str
    pointer: str
    definition: dict[str, Any]
    parameters: tuple[Parameter, ...]
    pattern: re.Pattern[str]
    literal_segments: int


def _hinted(keyword: Callable[..., Iterator[ValidationError]]) -> Callable[..., Any]:
    """A oneOf/anyOf/allOf that applies a `discriminator` only to objects.

    GitHub puts a discriminator on unions whose members are not all objects (a contents
    directory is an array): for those instances the union's own semantics decide.
    """

    def check(validator: Any, subschemas: Any, instance: Any, schema: Any) -> Any:
        if "discriminator" in schema and not validator.is_type(instance, "object"):
            schema = {k: v for k, v in schema.items() if k != "discriminator"}
        return keyword(validator, subschemas, instance, schema)

    return check


def _nullable_enum(validator: Any, enum: Any, instance: Any, schema: Any) -> Any:
    """`enum` that lets null through when the schema says `nullable: true` (see deviations)."""
    if instance is None and schema.get("nullable") is True:
        return iter(())
    return jsonschema_keywords.enum(validator, enum, instance, schema)


_KEYWORDS = {name: _hinted(getattr(oas_keywords, name)) for name in ("oneOf", "anyOf", "allOf")}
_KEYWORDS["enum"] = _nullable_enum
ReadValidator = extend(OAS30ReadValidator, _KEYWORDS)
WriteValidator = extend(OAS30WriteValidator, _KEYWORDS)


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _json_path(error: ValidationError) -> str:
    parts = ["$"]
    for item in error.absolute_path:
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
    return "".join(parts)


def describe_error(error: ValidationError) -> str:
    """`$.json.path: message` for a schema error, pointing into the closest union branch."""
    while error.context:
        # Branches that fail on the value's type where the union sits are the wrong branch
        # (an object is not null); the others say what is wrong with the right one.
        depth = len(error.absolute_path)
        right = [
            e
            for e in error.context
            if not (e.validator == "type" and len(e.absolute_path) == depth)
        ]
        error = best_match(right or error.context)
    message = error.message
    text = repr(error.instance)
    if len(text) > 80 and text in message:
        message = message.replace(text, _summary(error.instance))
    return f"{_json_path(error)}: {message}"


def _summary(instance: Any) -> str:
    """A short stand-in for a large value in a message."""
    if isinstance(instance, dict):
        keys = ", ".join(list(instance)[:6])
        return f"{{object with keys {keys}{', ...' if len(instance) > 6 else ''}}}"
    if isinstance(instance, list):
        return f"[array of {len(instance)} items]"
    return repr(instance)[:77] + "..."


def _media_type(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return None


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


class GitHubOpenAPI:
    """The description loaded once: routing, schema validators and the checks themselves."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, Resource.opaque(spec))
        self._validators: dict[tuple[str, bool], Any] = {}
        self.operations = sorted(
            self._load_operations(), key=lambda op: (-op.literal_segments, op.template)
        )

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            kind, name = node["$ref"].removeprefix("#/components/").split("/", 1)
            node = self.spec["components"][kind][name]
        return node

    def _load_operations(self) -> Iterator[Operation]:
        for template, item in self.spec["paths"].items():
            item_pointer = f"/paths/{_escape_pointer(template)}"
            shared = self._parameters(item, item_pointer)
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                pointer = f"{item_pointer}/{method}"
                own = self._parameters(item[method], pointer)
                names = {(p.location, p.name) for p in own}
                params = (*own, *(p for p in shared if (p.location, p.name) not in names))
                pattern, literals = self._compile(template, params)
                yield Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=item[method]["operationId"],
                    pointer=pointer,
                    definition=item[method],
                    parameters=params,
                    pattern=pattern,
                    literal_segments=literals,
                )

    def _parameters(self, owner: dict[str, Any], pointer: str) -> list[Parameter]:
        found = []
        for index, raw in enumerate(owner.get("parameters", [])):
            at = raw["$ref"].removeprefix("#") if "$ref" in raw else f"{pointer}/parameters/{index}"
            param = self.resolve(raw)
            location = param["in"]
            found.append(
                Parameter(
                    name=param["name"].lower() if location == "header" else param["name"],
                    location=location,
                    required=bool(param.get("required")),
                    schema=self.resolve(param.get("schema", {})),
                    schema_pointer=f"{at}/schema",
                    multi_segment=bool(param.get("x-multi-segment")),
                )
            )
        return found

    @staticmethod
    def _compile(template: str, params: tuple[Parameter, ...]) -> tuple[re.Pattern[str], int]:
        multi = {p.name for p in params if p.location == "path" and p.multi_segment}
        regex, literals = "", 0
        for segment in template.strip("/").split("/"):
            literals += "{" not in segment
            pieces = re.split(r"\{(\w+)\}", segment)
            regex += "/"
            for index, piece in enumerate(pieces):
                if index % 2 == 0:
                    regex += re.escape(piece)
                else:
                    regex += f"(?P<{piece}>.+)" if piece in multi else f"(?P<{piece}>[^/]+)"
        return re.compile(f"^{regex}$"), literals

    def _validator(self, pointer: str, writing: bool) -> Any:
        key = (pointer, writing)
        if key not in self._validators:
            cls = WriteValidator if writing else ReadValidator
            self._validators[key] = cls(
                {"$ref": f"{SPEC_URI}#{pointer}"},
                registry=self._registry,
                format_checker=oas30_format_checker,
            )
        return self._validators[key]

    def schema_errors(self, pointer: str, instance: Any, writing: bool) -> list[str]:
        """Violations of the schema at JSON pointer `pointer` (writing: a request body)."""
        errors = self._validator(pointer, writing).iter_errors(instance)
        messages = []
        for error in errors:
            messages.append(describe_error(error))
            if len(messages) == MAX_SCHEMA_ERRORS:
                messages.append("... (more errors not shown)")
                break
        return messages

    # --- routing -------------------------------------------------------------------------

    def api_path(self, url: str, base_url: str | None = None) -> str:
        """The path of `url` below the API's base URL (scheme, host and query removed)."""
        path = urlsplit(url).path or "/"
        if base_url is not None:
            base = urlsplit(base_url).path.rstrip("/")
            return path[len(base) :] or "/" if path.startswith(base + "/") else path
        for base in DEFAULT_BASE_PATHS[1:]:
            if path.startswith(base + "/") and not self._match_path(path):
                return path[len(base) :]
        return path

    def _match_path(self, path: str) -> list[tuple[Operation, dict[str, str]]]:
        found = []
        for operation in self.operations:
            match = operation.pattern.match(path)
            if match:
                found.append((operation, {k: unquote(v) for k, v in match.groupdict().items()}))
        return found

    def find(
        self, method: str, url: str, base_url: str | None = None
    ) -> tuple[Operation | None, dict[str, str], list[str]]:
        """The operation for a request, its path parameters, and the methods the path allows."""
        path = self.api_path(url, base_url)
        matches = self._match_path(path)
        for operation, params in matches:
            if operation.method == method.upper():
                return operation, params, []
        allowed = sorted({op.method for op, _ in matches})
        return None, {}, allowed

    def unknown(self, method: str, url: str, base_url: str | None, allowed: list[str]) -> str:
        path = self.api_path(url, base_url)
        hint = f" (the path allows {', '.join(allowed)})" if allowed else ""
        return f"no such operation in GitHub's API: {method.upper()} {path}{hint}"

    # --- requests ------------------------------------------------------------------------

    def validate_request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        base_url: str | None = None,
    ) -> list[str]:
        operation, path_params, allowed = self.find(method, url, base_url)
        if operation is None:
            return [self.unknown(method, url, base_url, allowed)]
        where = f"{operation.method} {operation.template}"
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        violations = self._parameter_errors(operation, path_params, query, headers)
        violations += self._request_body_errors(operation, headers, body)
        return _drop_known([f"{where}: {v}" for v in violations])

    def _parameter_errors(
        self,
        operation: Operation,
        path_params: dict[str, str],
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> list[str]:
        supplied: dict[str, dict[str, list[str]]] = {"path": {}, "query": {}, "header": {}}
        for name, value in path_params.items():
            supplied["path"][name] = [value]
        for name, value in query:
            supplied["query"].setdefault(name, []).append(value)
        for name, value in headers.items():
            supplied["header"].setdefault(name.lower(), []).append(value)
        declared_query = {p.name for p in operation.parameters if p.location == "query"}
        violations = [
            f"unknown query parameter {name!r}"
            for name in supplied["query"]
            if name not in declared_query
        ]
        for param in operation.parameters:
            values = supplied.get(param.location, {}).get(param.name)
            if values is None:
                if param.required:
                    violations.append(f"missing required {param.location} parameter {param.name!r}")
                continue
            value = _coerce(values, param.schema)
            for message in self.schema_errors(param.schema_pointer, value, writing=True):
                detail = message.removeprefix("$: ")
                violations.append(f"{param.location} parameter {param.name!r}: {detail}")
        return violations

    def _request_body_errors(
        self, operation: Operation, headers: Mapping[str, str], body: bytes | None
    ) -> list[str]:
        spec_body = operation.definition.get("requestBody")
        if not body:
            if spec_body and self.resolve(spec_body).get("required"):
                return ["missing required request body"]
            return []
        if spec_body is None:
            return ["this operation takes no request body"]
        content = self.resolve(spec_body)["content"]
        media = _media_type(headers) or "application/json"
        if media not in content:
            return [f"request Content-Type {media!r} is not one of {', '.join(content)}"]
        try:
            instance = json.loads(body)
        except ValueError as error:
            return [f"request body is not JSON: {error}"]
        pointer = _body_pointer(operation, spec_body, media)
        return [f"request body: {m}" for m in self.schema_errors(pointer, instance, writing=True)]

    # --- responses -----------------------------------------------------------------------

    def validate_response(
        self,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str | None = None,
    ) -> list[str]:
        operation, _, allowed = self.find(method, url, base_url)
        if operation is None:
            return [self.unknown(method, url, base_url, allowed)]
        where = f"{operation.method} {operation.template}"
        responses = operation.definition["responses"]
        key = str(status)
        if key not in responses:
            also = UNDOCUMENTED_STATUSES.get((operation.method, operation.template), frozenset())
            if status not in GENERIC_STATUSES | also:
                documented = ", ".join(sorted(responses))
                return [f"{where}: status {status} is not documented (documented: {documented})"]
            pointer = "/components/responses/not_found" if status != 304 else None
        else:
            pointer = f"{operation.pointer}/responses/{key}"
        violations = self._response_body_errors(pointer, status, headers, body)
        return _drop_known([f"{where}: {v}" for v in violations])

    def _response_body_errors(
        self, pointer: str | None, status: int, headers: Mapping[str, str], body: bytes
    ) -> list[str]:
        response = self._at(pointer) if pointer else {}
        if "$ref" in response:
            pointer = response["$ref"].removeprefix("#")
            response = self.resolve(response)
        content = response.get("content") or {}
        if not content or status == 304:
            return [f"status {status} must have an empty body"] if body.strip() else []
        media = _media_type(headers)
        if media is None:
            return [] if not body else ["response has a body but no Content-Type"]
        if RAW_MEDIA_TYPE.match(media) and status < 300:
            return []
        if media not in content:
            json_media = next((m for m in content if _is_json(m)), None)
            if not (_is_json(media) and json_media):
                return [f"response Content-Type {media!r} is not one of {', '.join(content)}"]
            media = json_media
        if not _is_json(media):
            return []
        try:
            instance = json.loads(body)
        except ValueError as error:
            return [f"response body is not JSON: {error}"]
        schema_pointer = f"{pointer}/content/{_escape_pointer(media)}/schema"
        errors = self.schema_errors(schema_pointer, instance, writing=False)
        return [f"response body: {m}" for m in errors]

    def _at(self, pointer: str) -> dict[str, Any]:
        node: Any = self.spec
        for token in pointer.lstrip("/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return dict(node)


def _coerce(values: list[str], schema: dict[str, Any]) -> Any:
    """Turn a parameter's text into the type its schema declares, leaving bad text as is."""
    kind = schema.get("type")
    if kind == "array":
        return [v for value in values for v in value.split(",")]
    value = values[-1]
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _body_pointer(operation: Operation, spec_body: dict[str, Any], media: str) -> str:
    base = (
        spec_body["$ref"].removeprefix("#")
        if "$ref" in spec_body
        else (f"{operation.pointer}/requestBody")
    )
    return f"{base}/content/{_escape_pointer(media)}/schema"


def _drop_known(violations: list[str]) -> list[str]:
    filters = [d.message for d in KNOWN_DEVIATIONS if d.message is not None]
    return [v for v in violations if not any(f.search(v) for f in filters)]


@cache
def load(spec_path: Path = SPEC_PATH) -> GitHubOpenAPI:
    """The description, parsed once per process."""
    return GitHubOpenAPI(json.loads(spec_path.read_text(encoding="utf-8")))


def validate_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    base_url: str | None = None,
) -> list[str]:
    """Violations of GitHub's description by a request (empty when it conforms).

    `base_url` is the API root to strip (e.g. `http://127.0.0.1:5123/api/v3`); without it
    the path is taken as is, or below `/api/v3` when only that matches.
    """
    return load().validate_request(method, url, headers, body, base_url)


def validate_response(
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    base_url: str | None = None,
) -> list[str]:
    """Violations of GitHub's description by the response to `method url`."""
    return load().validate_response(method, url, status, headers, body, base_url)


def operation_for(method: str, url: str, base_url: str | None = None) -> str | None:
    """The operationId GitHub's description gives `method url`, or None."""
    operation, _, _ = load().find(method, url, base_url)
    return operation.operation_id if operation else None


# --- recorders: attach the checks to clients and servers --------------------------------


@dataclass
class Exchange:
    """One request and its response, as seen on the wire, with the violations found."""

    method: str
    url: str
    status: int
    operation_id: str | None
    violations: list[str]


@dataclass
class ExchangeRecorder:
    """Validates and keeps every exchange; `skip(method, path)` excludes non-API routes."""

    base_url: str | None = None
    skip: Callable[[str, str], bool] | None = None
    exchanges: list[Exchange] = field(default_factory=list)

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
        api = load()
        if self.skip is not None and self.skip(method.upper(), urlsplit(url).path):
            return None
        operation, _, _ = api.find(method, url, self.base_url)
        violations = api.validate_request(method, url, request_headers, request_body, self.base_url)
        if operation is not None:
            violations += api.validate_response(
                method, url, status, response_headers, response_body, self.base_url
            )
        exchange = Exchange(
            method.upper(),
            url,
            status,
            operation.operation_id if operation else None,
            violations,
        )
        self.exchanges.append(exchange)
        return exchange

    @property
    def violations(self) -> list[str]:
        return [f"{v} [{e.status} {e.url}]" for e in self.exchanges for v in e.violations]

    def assert_conforms(self) -> None:
        """Fail with every violation, one a line, if any exchange broke the description."""
        if self.violations:
            raise AssertionError("GitHub API violations:\n" + "\n".join(self.violations))


class ValidatingTransport(httpx.BaseTransport):
    """An httpx transport that passes requests to `inner` and records every exchange."""

    def __init__(self, recorder: ExchangeRecorder, inner: httpx.BaseTransport | None = None):
        self.recorder = recorder
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.inner.handle_request(request)
        response.read()  # the client reads the cached content again
        self.recorder.record(
            request.method,
            str(request.url),
            request.headers,
            body,
            response.status_code,
            response.headers,
            response.content,
        )
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncValidatingTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of ValidatingTransport (e.g. around httpx.ASGITransport)."""

    def __init__(self, recorder: ExchangeRecorder, inner: httpx.AsyncBaseTransport | None = None):
        self.recorder = recorder
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.recorder.record(
            request.method,
            str(request.url),
            request.headers,
            body,
            response.status_code,
            response.headers,
            response.content,
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class ValidatingAdapter(requests.adapters.HTTPAdapter):
    """A `requests` adapter that records every exchange: `session.mount("http://", ...)`."""

    def __init__(self, recorder: ExchangeRecorder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
        self.recorder.record(
            request.method or "GET",
            request.url or "",
            headers,
            body if isinstance(body, bytes) else None,
            response.status_code,
            response.headers,
            response.content,
        )
        return response


@contextmanager
def validating_pygithub(recorder: ExchangeRecorder) -> Iterator[ExchangeRecorder]:
    """Record every call of PyGithub clients made inside the block.

    PyGithub builds its `requests` sessions inside connection classes; its supported test
    hook `Requester.injectConnectionClasses` swaps them for ones that mount ValidatingAdapter.
    Requesters capture the classes when created, so create `Github(...)` inside the block.
    """
    from github import Requester

    class HTTPConnection(Requester.HTTPRequestsConnectionClass):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session.mount("http://", ValidatingAdapter(recorder))

    class HTTPSConnection(Requester.HTTPSRequestsConnectionClass):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session.mount("https://", ValidatingAdapter(recorder, max_retries=self.retry))

    Requester.Requester.injectConnectionClasses(HTTPConnection, HTTPSConnection)
    try:
        yield recorder
    finally:
        Requester.Requester.resetConnectionClasses()
