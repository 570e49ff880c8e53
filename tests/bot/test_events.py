"""Parsing deliveries: headers, JSON payloads and the stored summary."""

from __future__ import annotations

import json

import pytest

from bot.core.events import BadDelivery, Event, parse_delivery, summarize

HEADERS = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab"}
PAYLOAD = {
    "action": "created",
    "installation": {"id": 2311213},
    "repository": {"full_name": "acme/shop", "name": "shop"},
    "sender": {"login": "octocat", "type": "User"},
    "comment": {"body": "/deploy prod"},
}


def test_parses_a_delivery_whatever_the_header_case() -> None:
    headers = {key.lower(): value for key, value in HEADERS.items()}
    delivery = parse_delivery(headers, json.dumps(PAYLOAD).encode())
    assert (delivery.delivery_id, delivery.event, delivery.action) == (
        "72d3162e-cc78-11e3-81ab",
        "issue_comment",
        "created",
    )
    assert (delivery.installation_id, delivery.repository) == (2311213, "acme/shop")
    assert delivery.payload == PAYLOAD


def test_summary_tolerates_missing_and_odd_fields() -> None:
    odd = {"action": 7, "installation": {"id": "12"}, "repository": None}
    delivery = summarize("push", "d1", odd)
    assert (delivery.action, delivery.installation_id, delivery.repository) == (None, None, None)
    assert summarize("installation", "d2", {"installation": {"id": True}}).installation_id is None


def test_event_exposes_the_sender() -> None:
    event = Event("d", "issue_comment", "created", 1, "acme/shop", PAYLOAD)
    assert event.sender == "octocat"
    assert Event("d", "push", None, None, None, {"sender": None}).sender is None


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"X-GitHub-Delivery": "d1"}, b"{}", "missing X-GitHub-Event"),
        ({"X-GitHub-Event": "push"}, b"{}", "missing X-GitHub-Delivery"),
        ({"X-GitHub-Event": " ", "X-GitHub-Delivery": "d1"}, b"{}", "missing X-GitHub-Event"),
        ({"X-GitHub-Event": "Push!", "X-GitHub-Delivery": "d1"}, b"{}", "malformed"),
        ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "a b"}, b"{}", "malformed"),
        ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "x" * 101}, b"{}", "malformed"),
        ({**HEADERS}, b"{not json", "not valid JSON"),
        ({**HEADERS}, b"\xff\xfe", "not valid JSON"),
        ({**HEADERS}, b"", "not valid JSON"),
        ({**HEADERS}, b"[1, 2]", "JSON object"),
        ({**HEADERS}, b'"text"', "JSON object"),
        ({**HEADERS}, b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # too deep
    ],
)
def test_rejects_bad_deliveries(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(BadDelivery, match=reason):
        parse_delivery(headers, body)


@pytest.mark.parametrize(
    "body",
    [
        '{"zen": "\u00dcber"}'.encode("utf-16"),
        '{"zen": "\u00dcber"}'.encode("utf-8-sig"),
        b'{"zen": "\\ud800"}',  # an escaped lone surrogate
        b'{"zen": "\xed\xa0\x80"}',  # the same, UTF-8-encoded
        b'{"ratio": NaN, "big": 1e400}',
    ],
    ids=["utf-16", "utf-8-bom", "escaped-surrogate", "raw-surrogate", "nan"],
)
def test_bodies_the_fast_parser_refuses_are_parsed_as_the_standard_library_does(
    body: bytes,
) -> None:
    assert repr(parse_delivery(HEADERS, body).payload) == repr(json.loads(body))
