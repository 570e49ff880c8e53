"""The webhook validator accepts GitHub's real payloads and names what is wrong in bad ones."""

from __future__ import annotations

import copy
import json

import pytest

from tests.support.webhook_schemas import (
    EXAMPLES,
    SCHEMAS,
    events,
    example_payloads,
    schema_for,
    validate_webhook,
)

EVENTS = [
    "installation",
    "installation_repositories",
    "push",
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "workflow_run",
    "check_run",
    "check_suite",
    "deployment",
    "deployment_status",
    "ping",
]
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/*.json"))


def test_every_event_the_bot_handles_has_a_schema_and_examples() -> None:
    assert sorted(events()) == sorted(EVENTS)
    for event in EVENTS:
        assert example_payloads(event), event


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_committed_example_validates(path) -> None:
    assert validate_webhook(path.parent.name, json.loads(path.read_text())) == []


def test_schemas_resolve_offline() -> None:
    for path in SCHEMAS.glob("*.json"):
        text = path.read_text()
        schema = json.loads(text)
        refs = set(json.dumps(schema).split('"$ref": "')[1:])
        for ref in (r.split('"', 1)[0] for r in refs):
            assert ref.startswith("#/definitions/"), (path.name, ref)
            assert ref.removeprefix("#/definitions/") in schema["definitions"], (path.name, ref)


def test_example_payloads_filter_by_action() -> None:
    opened = example_payloads("pull_request", "opened")
    assert opened
    assert {p["action"] for p in opened} == {"opened"}
    assert len(example_payloads("pull_request")) > len(opened)


def test_missing_required_field_is_named_with_its_path() -> None:
    payload = copy.deepcopy(example_payloads("pull_request", "opened")[0])
    del payload["pull_request"]["head"]["sha"]
    assert validate_webhook("pull_request", payload) == [
        "pull_request webhook: $.pull_request.head: 'sha' is a required property"
    ]


def test_wrong_type_is_named() -> None:
    payload = copy.deepcopy(example_payloads("push")[0])
    payload["forced"] = "yes"
    assert validate_webhook("push", payload) == [
        "push webhook: $.forced: 'yes' is not of type 'boolean'"
    ]


def test_nested_object_problem_points_into_the_right_union_branch() -> None:
    payload = copy.deepcopy(example_payloads("pull_request", "opened")[0])
    del payload["pull_request"]["head"]["repo"]["owner"]["login"]
    violations = validate_webhook("pull_request", payload)
    assert violations == [
        "pull_request webhook: $.pull_request.head.repo.owner: 'login' is a required property"
    ]


def test_wrong_enum_and_bad_date_are_named() -> None:
    payload = copy.deepcopy(example_payloads("workflow_run", "completed")[0])
    payload["workflow_run"]["conclusion"] = "green"
    payload["workflow_run"]["created_at"] = "yesterday"
    violations = validate_webhook("workflow_run", payload)
    assert any("$.workflow_run.conclusion: 'green' is not one of" in v for v in violations)
    assert any(
        "$.workflow_run.created_at: 'yesterday' is not a 'date-time'" in v for v in violations
    )


def test_unknown_action_is_refused_with_the_known_ones() -> None:
    payload = copy.deepcopy(example_payloads("installation", "created")[0])
    payload["action"] = "exploded"
    [violation] = validate_webhook("installation", payload)
    assert "unknown action 'exploded'" in violation
    assert "created" in violation and "deleted" in violation


def test_payload_of_another_event_is_refused() -> None:
    push = example_payloads("push")[0]
    violations = validate_webhook("ping", push)
    assert any("'zen' is a required property" in v for v in violations)


def test_unknown_event_raises() -> None:
    with pytest.raises(KeyError, match="no schema for webhook event 'pull'"):
        schema_for("pull")
    with pytest.raises(KeyError, match="no examples"):
        example_payloads("pull")
