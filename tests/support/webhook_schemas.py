"""Check webhook payloads against GitHub's published JSON Schemas, and read real examples.

Schemas and examples come from `@octokit/webhooks-schemas` and `@octokit/webhooks-examples`,
copied into tests/fixtures/reference/github/ by tests/tools/extract_github_reference.py.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from tests.support.github_openapi import describe_error

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures/reference/github"
SCHEMAS = REFERENCE / "webhook-schemas"
EXAMPLES = REFERENCE / "webhook-examples"
MAX_ERRORS = 10


def events() -> list[str]:
    """The webhook events whose schemas are kept."""
    return sorted(path.stem for path in SCHEMAS.glob("*.json"))


# ajv-formats, which the schemas are written for, refuses "" as a `uri`; jsonschema checks
# `uri` only with an optional package, so check RFC 3986's scheme-then-rest shape here.
FORMATS = FormatChecker()
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
FORMATS.checks("uri")(lambda value: not isinstance(value, str) or bool(URI.match(value)))


class WebhookSchema:
    """One event's bundled schema, with a validator per action built on first use."""

    def __init__(self, event: str, schema: dict[str, Any]) -> None:
        self.event = event
        self.schema = schema
        prefix = f"{event}$"
        self.actions = sorted(
            name.removeprefix(prefix)
            for name in schema["definitions"]
            if name.startswith(prefix) and name != f"{prefix}event"
        )
        self._validators: dict[str | None, Draft7Validator] = {}

    def _validator(self, action: str | None) -> Draft7Validator:
        if action not in self._validators:
            schema = self.schema
            if action is not None:
                # Each file is self-contained (`#/definitions/...` only): nothing is fetched.
                schema = {**schema, "allOf": [{"$ref": f"#/definitions/{self.event}${action}"}]}
            self._validators[action] = Draft7Validator(schema, format_checker=FORMATS)
        return self._validators[action]

    def validate(self, payload: Any) -> list[str]:
        """Violations of this schema by `payload`, checked against its action's definition."""
        action = payload.get("action") if isinstance(payload, dict) else None
        if self.actions and action not in self.actions:
            known = ", ".join(self.actions)
            return [f"{self.event} webhook: unknown action {action!r} (known: {known})"]
        messages = []
        for error in self._validator(action if self.actions else None).iter_errors(payload):
            messages.append(f"{self.event} webhook: {describe_error(error)}")
            if len(messages) == MAX_ERRORS:
                break
        return messages


@cache
def schema_for(event: str) -> WebhookSchema:
    """The committed schema of `event`, loaded once per process."""
    path = SCHEMAS / f"{event}.json"
    if not path.exists():
        raise KeyError(f"no schema for webhook event {event!r}; known: {', '.join(events())}")
    return WebhookSchema(event, json.loads(path.read_text(encoding="utf-8")))


def validate_webhook(event: str, payload: Any) -> list[str]:
    """Violations of the `event` schema by `payload` (empty when it conforms)."""
    return schema_for(event).validate(payload)


def example_payloads(event: str, action: str | None = None) -> list[dict[str, Any]]:
    """GitHub's real example payloads for `event` (only `action` ones when given)."""
    folder = EXAMPLES / event
    if not folder.is_dir():
        raise KeyError(f"no examples for webhook event {event!r}")
    payloads = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return [p for p in payloads if action is None or p.get("action") == action]
