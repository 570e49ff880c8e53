"""Check HTTP exchanges with Argo CD's API against Argo CD's own Swagger 2.0 description.

The description is tests/fixtures/reference/argocd/swagger.json, copied unchanged from
argoproj/argo-cd v3.6.0 (commit 37ee0097cf851bc2dd7665fc081bbce61a7e836e, Apache-2.0, see
LICENSE next to it). `validate_argocd_response` and `validate_argocd_request` return readable
violations; an empty list means the exchange conforms.

What the checks relax, and why (everything else is checked as written, plus one tightening):
- int64/uint64 fields accept a JSON integer or a decimal string. Argo CD's gateway marshals
  with Go's encoding/json, which writes integers (`history[].id`), but protoc-gen-swagger
  declares some int64 fields as strings (`sourcePositions`, `tailLines`) per proto3 JSON.
- `v1MicroTime` also accepts an RFC 3339 string: the swagger describes the protobuf form
  (seconds/nanos), but metav1.MicroTime marshals to a string in JSON.
- Streaming operations (`/logs`, `/stream/applications`) may be passed as the raw body
  (NDJSON lines, or `data: ...` server-sent events); every message is checked on its own.
Tightening: objects may not carry properties the swagger does not declare (the swagger sets
no `additionalProperties`, so a misspelt `reconcileAt` would otherwise pass unnoticed).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

SWAGGER_PATH = Path(__file__).resolve().parents[1] / "fixtures/reference/argocd/swagger.json"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
INTEGER_STRING = {"type": "string", "pattern": r"^-?[0-9]+$"}
MAX_ERRORS = 10

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC3339.match(value))


@FORMATS.checks("byte")
def _is_base64(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", value))


@FORMATS.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@cache
def swagger() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SWAGGER_PATH.read_text())
    return data


@cache
def _definitions() -> dict[str, Any]:
    raw = swagger()["definitions"]
    converted = {name: _convert(_inline_all_of(schema, raw)) for name, schema in raw.items()}
    micro = converted["v1MicroTime"]
    converted["v1MicroTime"] = {"anyOf": [micro, {"type": "string", "format": "date-time"}]}
    return converted


def _inline_all_of(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Merge ``allOf: [$ref]`` into the schema's own properties, so strictness can apply."""
    if "allOf" not in schema:
        return schema
    merged = copy.deepcopy({k: v for k, v in schema.items() if k != "allOf"})
    merged.setdefault("properties", {})
    for part in schema["allOf"]:
        target = definitions[part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
        merged["properties"].update(copy.deepcopy(target.get("properties") or {}))
    return merged


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k not in ("title", "description")}
    if isinstance(node.get("properties"), dict):
        # Property names are data, not keywords: a property called "title" must stay.
        out["properties"] = {k: _convert(v) for k, v in node["properties"].items()}
    if out.get("format") in ("int64", "uint64"):
        out.pop("format")
        integer = {k: v for k, v in out.items() if k != "type"}
        return {"anyOf": [{**integer, "type": "integer"}, INTEGER_STRING]}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _validator(schema: dict[str, Any]) -> Draft7Validator:
    return _cached_validator(json.dumps(schema, sort_keys=True))


@cache
def _cached_validator(schema_json: str) -> Draft7Validator:
    root = {**_convert(json.loads(schema_json)), "definitions": _definitions()}
    return Draft7Validator(root, format_checker=FORMATS)


@cache
def _route_table() -> list[tuple[list[str], str]]:
    routes = [(template.strip("/").split("/"), template) for template in swagger()["paths"]]
    # Literal segments win over parameters: /applications/{name}/sync before /applications/{x}.
    routes.sort(key=lambda r: sum(1 for s in r[0] if s.startswith("{")))
    return routes


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The swagger path template and operation serving ``method path``, if any."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    for template_segments, template in _route_table():
        if len(template_segments) != len(segments):
            continue
        if all(
            t.startswith("{") or t == s for t, s in zip(template_segments, segments, strict=True)
        ):
            operation = swagger()["paths"][template].get(method.lower())
            if operation is not None:
                return template, operation
    return None


def _errors(validator: Draft7Validator, instance: Any, where: str) -> list[str]:
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{where} {e.json_path}: {e.message}" for e in found[:MAX_ERRORS]]


def _is_streaming(operation: dict[str, Any]) -> bool:
    return "(streaming responses)" in str(operation["responses"].get("200", {}).get("description"))


def _stream_messages(body: Any) -> tuple[list[Any], list[str]]:
    if isinstance(body, bytes):
        body = body.decode()
    if not isinstance(body, str):
        return (body if isinstance(body, list) else [body]), []
    messages, problems = [], []
    for line in body.splitlines():
        text = line.strip()
        if text.startswith("data:"):
            text = text[5:].strip()
        if not text:
            continue
        try:
            messages.append(json.loads(text))
        except json.JSONDecodeError as exc:
            problems.append(f"stream message is not JSON ({exc}): {text[:80]!r}")
    return messages, problems


def validate_argocd_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Violations of the swagger by a response (``body``: parsed JSON, or raw text/bytes)."""
    found = find_operation(method, path)
    if found is None:
        return [f"{method.upper()} {path}: no such operation in the Argo CD swagger"]
    template, operation = found
    responses = operation["responses"]
    if 200 <= status < 300 and str(status) not in responses:
        return [f"{method.upper()} {template}: undocumented success status {status}"]
    spec = responses.get(str(status)) or responses.get("default")
    if spec is None or "schema" not in spec:
        return [f"{method.upper()} {template}: no schema for status {status}"]
    validator = _validator(spec["schema"])
    if status == 200 and _is_streaming(operation):
        messages, problems = _stream_messages(body)
        if not messages:
            problems.append("stream carried no messages")
        for index, message in enumerate(messages):
            problems += _errors(validator, message, f"stream message {index}")
        return problems
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            return [f"response body is not JSON: {exc}"]
    return _errors(validator, body, "response body")


def _query_value_problems(param: dict[str, Any], values: list[str]) -> list[str]:
    name, kind = param["name"], param.get("type")
    if kind != "array" and len(values) > 1:
        return [f"query parameter {name!r} repeated but is not an array"]
    item_type = param.get("items", {}).get("type") if kind == "array" else kind
    item_format = param.get("items", {}).get("format") if kind == "array" else param.get("format")
    problems = []
    for value in values:
        if item_type == "boolean" and value not in ("true", "false"):
            problems.append(f"query parameter {name!r}={value!r} is not a boolean")
        integer = item_type == "integer" or item_format in ("int64", "uint64", "int32")
        if integer and not re.fullmatch(r"-?[0-9]+", value):
            problems.append(f"query parameter {name!r}={value!r} is not an integer")
    return problems


def validate_argocd_request(
    method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None
) -> list[str]:
    """Violations of the swagger by a request: unknown or mistyped parameters, a bad body."""
    found = find_operation(method, path)
    if found is None:
        return [f"{method.upper()} {path}: no such operation in the Argo CD swagger"]
    _, operation = found
    params = operation.get("parameters") or []
    by_name = {p["name"]: p for p in params if p["in"] == "query"}
    problems = []
    for name, raw in (query or {}).items():
        values = [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]
        param = by_name.get(name)
        if param is None:
            problems.append(f"unknown query parameter {name!r}")
            continue
        problems += _query_value_problems(param, values)
    for param in params:
        if param["in"] == "query" and param.get("required") and param["name"] not in (query or {}):
            problems.append(f"missing required query parameter {param['name']!r}")
    body_param = next((p for p in params if p["in"] == "body"), None)
    if body_param is None:
        if body is not None:
            problems.append("this operation takes no request body")
        return problems
    if body is None:
        return [*problems, "missing request body"] if body_param.get("required") else problems
    if isinstance(body, bytes | str):
        body = json.loads(body)
    return problems + _errors(_validator(body_param["schema"]), body, "request body")
