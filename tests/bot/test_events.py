"""Parsing deliveries: headers, JSON payloads and the stored summary."""

from __future__ import annotations

import json

import pytest

from bot.core.events import BadDelivery, Event, JSONText, parse_delivery, summarize

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
    body = json.dumps(PAYLOAD).encode()
    delivery = parse_delivery(headers, body)
    assert (delivery.delivery_id, delivery.event, delivery.action) == (
        "72d3162e-cc78-11e3-81ab",
        "issue_comment",
        "created",
    )
    assert (delivery.installation_id, delivery.repository) == (2311213, "acme/shop")
    # A UTF-8 body is kept as received, to be stored without encoding it again.
    assert isinstance(delivery.payload, JSONText) and delivery.payload == body.decode()


@pytest.mark.parametrize(
    ("payload", "summary"),
    [
        ({}, (None, None, None)),
        ({"action": None, "installation": None, "repository": None}, (None, None, None)),
        ({"installation": {"id": 9, "node_id": "x"}, "repository": {}}, (None, 9, None)),
        ({"action": 7, "installation": {"id": 5}}, (None, 5, None)),
        ({"action": "a", "installation": {"id": "12"}}, ("a", None, None)),
        ({"installation": {"id": True}, "repository": {"full_name": "o/r"}}, (None, None, "o/r")),
        ({"installation": {"id": 1.0}}, (None, None, None)),
        ({"installation": {"id": 2**70}}, (None, 2**70, None)),  # the queue leaves it out
        ({"repository": {"full_name": ["o/r"]}, "action": "closed"}, ("closed", None, None)),
        ({"installation": [1], "repository": "o/r"}, (None, None, None)),
    ],
)
def test_summary_fields_of_any_type_read_as_the_full_parse_reads_them(
    payload: dict[str, object], summary: tuple[object, ...]
) -> None:
    delivery = parse_delivery(HEADERS, json.dumps(payload).encode())
    assert (delivery.action, delivery.installation_id, delivery.repository) == summary
    kept = delivery.payload
    assert (json.loads(kept) if isinstance(kept, str) else kept) == payload


# Values that json.loads refuses or takes, each placed where the summary parser skips it.
JSON_VALUES = [
    b"[1,]",
    b'{"a":1,}',
    b'"\\x"',
    b'"a\x01b"',
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"1e",
    b"-",
    b"tru",
    b"nul",
    b'"\\u12"',
    b'"\\uZZZZ"',
    b"[1 2]",
    b'{"a" 1}',
    b'{"a":1 "b":2}',
    b"{a:1}",
    b"'a'",
    b"/*c*/1",
    b'"\t"',
    b"[1]x",
    b'"\xff"',
    b'"\xc3"',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-0",
    b"1E5",
    b'"\\ud800"',
    b'"\xed\xa0\x80"',
    b"12345678901234567890123456789",
    b'"\\/"',
    b'"\x7f"',
    b"[" * 3000 + b"]" * 3000,
    b'{"x": [true, false, null, {"y": []}]}',
]


@pytest.mark.parametrize("value", JSON_VALUES)
@pytest.mark.parametrize("where", ["member", "nested", "summary"])
def test_accepts_exactly_the_bodies_the_standard_library_reads(value: bytes, where: str) -> None:
    body = {
        "member": b'{"action": "created", "zen": %s}',
        "nested": b'{"repository": {"full_name": "o/r", "owner": [%s]}, "action": "x"}',
        "summary": b'{"action": %s, "installation": {"id": 3}}',
    }[where] % value
    try:
        expected = json.loads(body)
    except (ValueError, RecursionError):
        with pytest.raises(BadDelivery, match="not valid JSON"):
            parse_delivery(HEADERS, body)
        return
    payload = parse_delivery(HEADERS, body).payload
    # Whatever is kept reads back as the body did: as text, or encoded afresh.
    kept = payload if isinstance(payload, str) else json.dumps(payload)
    assert repr(json.loads(kept)) == repr(expected)


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
    ("body", "as_received"),
    [
        ('{"zen": "\u00dcber"}'.encode("utf-16"), False),
        ('{"zen": "\u00dcber"}'.encode("utf-8-sig"), False),
        (b'{"zen": "\xed\xa0\x80"}', False),  # a UTF-8-encoded lone surrogate
        (b'{"zen": "\\ud800"}', True),  # the same, escaped
        (b'{"ratio": NaN, "big": 1e400}', True),
    ],
    ids=["utf-16", "utf-8-bom", "raw-surrogate", "escaped-surrogate", "nan"],
)
def test_bodies_that_would_not_read_back_from_text_are_kept_parsed(
    body: bytes, as_received: bool
) -> None:
    payload = parse_delivery(HEADERS, body).payload
    assert isinstance(payload, JSONText) is as_received
    assert repr(json.loads(payload) if as_received else payload) == repr(json.loads(body))
