"""``app.yml`` is a manifest GitHub accepts and grants least privilege: every permission is
needed by a declared REST call, GraphQL query, git access or event, nothing needed is
missing, and the code calls and subscribes to nothing that is not declared.

The permission each operation needs comes from GitHub's documentation (reference data in
tests/fixtures/reference/github-app-permissions), never from the code under test. A GraphQL
query needs, for each type it reads (found by graphql-core in GitHub's schema), the
permissions of the REST operation that returns the same object.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.adapters.github.queries import QUERIES
from bot.manifest import (
    ALWAYS_SENT_EVENTS,
    API_OPERATIONS,
    EVENTS_USED,
    GIT_OPERATIONS,
    GRAPHQL_QUERIES,
    MANIFEST_FILE,
    ManifestError,
    app_manifest,
)
from tests.support import github_graphql, github_openapi

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "fixtures" / "reference"
PERMISSIONS = REFERENCE / "github-app-permissions"
WEBHOOK_SCHEMAS = REFERENCE / "github" / "webhook-schemas"
LEVEL = {"read": 1, "write": 2}
# Keys of GitHub's manifest format; `url` is the only one GitHub requires.
MANIFEST_KEYS = {
    "name",
    "url",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "description",
    "public",
    "default_events",
    "default_permissions",
    "request_oauth_on_install",
    "setup_on_update",
}
Requirement = tuple[str, frozenset[str]]  # what needs it, and the permissions allowing it


@cache
def documented() -> tuple[dict[str, list[str]], dict[str, Any]]:
    operations = json.loads((PERMISSIONS / "operations.json").read_text())
    supplement = json.loads((PERMISSIONS / "supplement.json").read_text())
    return operations, supplement


def rest_permissions(key: str) -> list[str]:
    operations, supplement = documented()
    if key in supplement["operations"]:
        return list(supplement["operations"][key]["permissions"])
    if key in operations:
        return list(operations[key])
    raise AssertionError(f"no documented permission for {key}: add it to supplement.json")


def graphql_types() -> set[str]:
    """The types the bot's GraphQL queries read a field of, in GitHub's schema."""
    return set(github_graphql.selected_fields(github_graphql.schema(), QUERIES.values()))


def graphql_permissions(type_name: str) -> list[str]:
    entry = documented()[1]["graphql"].get(type_name)
    if entry is None:
        raise AssertionError(f"no permission for GraphQL type {type_name}: add it to supplement")
    if "same_as" in entry:
        return rest_permissions(entry["same_as"])
    return list(entry["permissions"])


def requirements(events: list[str]) -> list[Requirement]:
    """What each declared call, query, git access and subscribed event needs, per GitHub's
    docs."""
    _, supplement = documented()
    needed: list[Requirement] = []
    for method, path in API_OPERATIONS:
        key = f"{method} {path}"
        needed.append((key, frozenset(rest_permissions(key))))
    for type_name in sorted(graphql_types()):
        needed.append((f"graphql {type_name}", frozenset(graphql_permissions(type_name))))
    for name in GIT_OPERATIONS:
        needed.append((f"git {name}", frozenset(supplement["git"][name]["permissions"])))
    for event in events:
        needed.append((f"event {event}", frozenset(supplement["events"][event]["permissions"])))
    return needed


def allows(granted: dict[str, str], permission: str) -> bool:
    name, access = permission.split(":")
    return LEVEL.get(granted.get(name, ""), 0) >= LEVEL[access]


def uncovered(granted: dict[str, str], needed: list[Requirement]) -> list[str]:
    return [
        what for what, options in needed if options and not any(allows(granted, p) for p in options)
    ]


def unneeded(granted: dict[str, str], needed: list[Requirement]) -> list[str]:
    """Grants that could be dropped (or lowered from write to read) with nothing uncovered."""
    extra = []
    for name, access in granted.items():
        weaker = dict(granted)
        if access == "write":
            weaker[name] = "read"
        else:
            del weaker[name]
        if not uncovered(weaker, needed):
            extra.append(f"{name}:{access}")
    return extra


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return app_manifest("https://autostack.example.com/")


def test_app_yml_is_a_manifest_github_takes(manifest: dict[str, Any]) -> None:
    raw = yaml.safe_load(MANIFEST_FILE.read_text())
    assert set(raw) <= MANIFEST_KEYS
    assert json.loads(json.dumps(manifest)) == manifest  # the form posts it as JSON
    assert set(manifest) <= MANIFEST_KEYS
    assert manifest["url"] == "https://autostack.example.com"
    assert manifest["hook_attributes"] == {
        "url": "https://autostack.example.com/webhooks/github",
        "active": True,
    }
    assert manifest["redirect_url"] == "https://autostack.example.com/setup/callback"
    assert 0 < len(manifest["name"]) <= 34
    assert manifest["public"] is False
    # AutoStack never acts for a user: no OAuth callbacks to hijack.
    assert "callback_urls" not in manifest and not manifest.get("request_oauth_on_install")
    assert set(manifest["default_permissions"].values()) <= set(LEVEL)
    assert manifest["default_events"] and len(set(manifest["default_events"])) == len(
        manifest["default_events"]
    )


@pytest.mark.parametrize(
    "url", ["ftp://example.com", "example.com", "https://example.com/?x=1", "http://"]
)
def test_a_public_url_github_cannot_use_is_refused(url: str) -> None:
    with pytest.raises(ManifestError):
        app_manifest(url)


def test_a_name_is_checked_against_githubs_limit() -> None:
    assert app_manifest("https://a.example", name="AutoStack for acme")["name"] == (
        "AutoStack for acme"
    )
    with pytest.raises(ManifestError):
        app_manifest("https://a.example", name="x" * 35)


def test_every_declared_operation_is_in_githubs_description() -> None:
    api = github_openapi.load()
    for method, path in API_OPERATIONS:
        # Fill the template's parameters; multi-segment ones get a slash to prove it.
        url = re.sub(r"\{[a-z_]+\}", "a1", path)
        operation, _, _ = api.find(method, f"https://api.github.com{url}")
        assert operation is not None and operation.template == path, f"{method} {path}"


def test_the_permissions_cover_every_declared_call_and_event(manifest: dict[str, Any]) -> None:
    needed = requirements(manifest["default_events"])
    assert uncovered(manifest["default_permissions"], needed) == []


def test_no_permission_is_more_than_needed(manifest: dict[str, Any]) -> None:
    needed = requirements(manifest["default_events"])
    assert unneeded(manifest["default_permissions"], needed) == []


def test_the_check_finds_a_missing_and_an_extra_permission(manifest: dict[str, Any]) -> None:
    needed = requirements(manifest["default_events"])
    granted = dict(manifest["default_permissions"])
    without_workflows = {k: v for k, v in granted.items() if k != "workflows"}
    assert uncovered(without_workflows, needed) == ["git push-workflow"]
    read_only_checks = granted | {"checks": "read"}
    assert "POST /repos/{owner}/{repo}/check-runs" in uncovered(read_only_checks, needed)
    # Each permission the GraphQL query reads with is checked too.
    for permission, read in [
        ("pull_requests", ["graphql PullRequest", "graphql PullRequestReview"]),
        ("checks", ["graphql App", "graphql CheckRun", "graphql CheckSuite"]),
        ("statuses", ["graphql StatusContext"]),
    ]:
        without = {k: v for k, v in granted.items() if k != permission}
        assert set(read) <= set(uncovered(without, needed)), permission
    assert unneeded(granted | {"administration": "write"}, needed) == ["administration:write"]


def test_events_are_exactly_the_declared_ones_and_exist(manifest: dict[str, Any]) -> None:
    assert sorted(manifest["default_events"]) == sorted(EVENTS_USED)
    for event in manifest["default_events"]:
        assert (WEBHOOK_SCHEMAS / f"{event}.json").is_file(), f"{event} is no GitHub event"
    assert not ALWAYS_SENT_EVENTS & set(manifest["default_events"])


def registered_events() -> set[str]:
    """Events the bot's routers register handlers for, read from the source."""
    pattern = re.compile(r"""(?:\.register\(|\.add\(\s*\w+\s*,)\s*["']([a-z_]+)["']""")
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_event_the_code_handles_is_subscribed() -> None:
    missing = registered_events() - set(EVENTS_USED) - ALWAYS_SENT_EVENTS
    assert not missing, f"handled but not in app.yml and EVENTS_USED: {sorted(missing)}"


def recorded_calls() -> set[tuple[str, str]]:
    """(method, URL) of every request in the GitHub adapter's recorded cassettes."""
    calls = set()
    for cassette in (ROOT / "tests").rglob("cassettes/*.yaml"):
        data = yaml.safe_load(cassette.read_text(encoding="utf-8")) or {}
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            calls.add((request["method"].upper(), request["uri"]))
    return calls


def is_git_transport(url: str) -> bool:
    path = urlsplit(url).path
    return path.endswith(("/info/refs", "/git-upload-pack", "/git-receive-pack"))


def test_the_graphql_queries_are_declared_and_read_only_documented_types() -> None:
    assert set(GRAPHQL_QUERIES) == set(QUERIES)
    read = graphql_types()
    assert {"PullRequest", "PullRequestReview", "CheckRun", "StatusContext"} <= read
    for type_name in read:
        graphql_permissions(type_name)  # each has a documented permission (or none needed)
    assert set(graphql_permissions("PullRequest")) == {"pull_requests:read"}
    assert set(graphql_permissions("CheckRun")) == {"checks:read"}
    assert set(graphql_permissions("StatusContext")) == {"statuses:read"}


def recorded_graphql_queries() -> list[tuple[str | None, str]]:
    """(operation name, query) of every GraphQL request in the recorded cassettes."""
    found = []
    for cassette in (ROOT / "tests").rglob("cassettes/*.yaml"):
        data = yaml.safe_load(cassette.read_text(encoding="utf-8")) or {}
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            if github_graphql.is_graphql(request["method"], request["uri"], None):
                body = json.loads(request["body"])
                found.append((github_graphql.operation_name(body["query"]), body["query"]))
    return found


def test_every_recorded_graphql_query_is_one_of_the_declared_ones() -> None:
    recorded = recorded_graphql_queries()
    assert {name for name, _ in recorded} == set(GRAPHQL_QUERIES)  # the cassettes cover them
    for name, query in recorded:
        assert name in QUERIES and query == QUERIES[name], name


def test_every_recorded_github_call_is_declared() -> None:
    api = github_openapi.load()
    undeclared = set()
    for method, url in recorded_calls():
        if is_git_transport(url) or urlsplit(url).path.startswith("/_sandbox/"):
            continue
        if github_graphql.is_graphql(method, url, None):
            continue  # checked query by query above
        operation, _, _ = api.find(method, url)
        template = operation.template if operation else urlsplit(url).path
        if (method, template) not in API_OPERATIONS:
            undeclared.add(f"{method} {template}")
    assert not undeclared, f"calls missing from bot/manifest.py API_OPERATIONS: {undeclared}"
