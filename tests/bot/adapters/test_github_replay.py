"""The GitHub adapter replaying recorded HTTP exchanges: no server, and any change to the
requests it sends (path, query, body, order, count) fails the test.

Cassettes live in ``cassettes/`` and were recorded against the sandbox GitHub. To record
them again, delete them and run
``AUTOSTACK_RECORD=1 .venv/bin/pytest tests/bot/adapters/test_github_replay.py``
and review the diff. Tokens, keys and secrets are scrubbed before a cassette is written;
the values a scenario needs besides the exchanges (the App id, the ids set up before the
cassette starts) are kept next to it in ``<name>.facts.json``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
import vcr

from bot.adapters.clock import FakeClock
from bot.adapters.github import GitHubAdapter
from bot.core.errors import TransientError
from bot.ports import NotFound
from sandbox.github.identity import generate_private_key_pem
from tests.bot.adapters.test_github_sandbox import START, GitHubWorld
from tests.support.github_graphql import GitHubExchangeRecorder
from tests.support.github_openapi import validating_pygithub

# Read at import: the bot's test fixtures clear AUTOSTACK_* variables before each test.
RECORD = os.environ.get("AUTOSTACK_RECORD") == "1"
CASSETTES = Path(__file__).parent / "cassettes"
REPLAY_URL = "http://github.replay.invalid"
SECRET_FIELDS = {
    "token": "REDACTED-installation-token",
    "pem": "REDACTED-private-key",
    "client_secret": "REDACTED-client-secret",
    "webhook_secret": "REDACTED-webhook-secret",
}
TOKEN_LIKE = re.compile(rb"gh[pousr]_[A-Za-z0-9]{20,}")
LEAKS = re.compile(r"ghs_|ghp_|Bearer |-----BEGIN|eyJ[A-Za-z0-9_-]{10,}\.")


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Replace secrets in a recorded body (installation tokens, the App's key and secrets)."""
    body: bytes = response["body"]["string"]
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and SECRET_FIELDS.keys() & doc.keys():
        doc.update({k: v for k, v in SECRET_FIELDS.items() if k in doc})
        body = json.dumps(doc, separators=(",", ":")).encode()
    body = TOKEN_LIKE.sub(b"REDACTED-token", body)
    response["body"]["string"] = body
    for name in list(response["headers"]):
        if name.lower() == "content-length":
            response["headers"][name] = [str(len(body))]
    return response


CASSETTE = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    # Not host or port: the sandbox ran on a random port; everything else must match.
    match_on=["method", "path", "query", "body"],
    filter_headers=["authorization"],
    before_record_response=scrub_response,
    decode_compressed_response=True,
)


@dataclass
class Stage:
    gh: GitHubAdapter
    facts: dict[str, Any]
    clock: FakeClock
    recorder: GitHubExchangeRecorder

    def calls(self, action: Callable[[], object]) -> int:
        """How many requests ``action`` made."""
        before = len(self.recorder.exchanges)
        action()
        return len(self.recorder.exchanges) - before


@contextmanager
def stage(name: str, setup: Callable[[GitHubWorld], dict[str, Any]]) -> Iterator[Stage]:
    """Replay cassette ``name``; with AUTOSTACK_RECORD=1, record it from a fresh sandbox."""
    clock = FakeClock(START)
    facts_file = CASSETTES / f"{name}.facts.json"
    with TemporaryDirectory() as tmp:
        world = None
        if RECORD:
            world = GitHubWorld(Path(tmp), clock).populate()
            facts = {"app_id": world.state.app_id, **setup(world)}
            facts_file.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
            url, key = world.url, world.state.private_key_pem
        else:
            facts = json.loads(facts_file.read_text())
            url, key = REPLAY_URL, generate_private_key_pem()
        try:
            recorder = GitHubExchangeRecorder(base_url=url)
            with validating_pygithub(recorder):
                gh = GitHubAdapter(url, facts["app_id"], key, clock)
                with CASSETTE.use_cassette(f"{name}.yaml") as cassette:
                    yield Stage(gh, facts, clock, recorder)
                    # Every recorded exchange was asked for: no request went missing.
                    assert RECORD or cassette.all_played
            recorder.assert_conforms()
        finally:
            if world is not None:
                world.close()


# --- reading ---------------------------------------------------------------------------


def setup_reads(world: GitHubWorld) -> dict[str, Any]:
    sha = world.push("acme/shop", "feature/replay", {"conf/app.yml": "port: 8080\n"}, "bob")
    number = world.open_pull("acme/shop", "feature/replay")
    world.review("acme/shop", number, "carol", "APPROVE")
    body = {"state": "success", "context": "ci/test"}
    assert world.rest("bob").post(f"/repos/acme/shop/statuses/{sha}", json=body).status_code == 201
    world.call("POST", "/repos/acme/shop/ci", {"sha": sha, "conclusion": "success"})
    return {"pull": number}


def test_reads() -> None:
    with stage("reads", setup_reads) as s:
        gh = s.gh
        assert s.calls(lambda: gh.installation_token("acme/shop")) == 2
        assert s.calls(lambda: gh.installation_token("acme/shop")) == 0
        info = gh.repo("acme/shop")
        assert (info.full_name, info.default_branch, info.private) == ("acme/shop", "main", True)
        assert info.clone_url.endswith("/acme/shop.git")
        assert s.calls(lambda: gh.repo("acme/shop")) == 0

        sha = gh.resolve_ref("acme/shop", "feature/replay")
        assert re.fullmatch(r"[0-9a-f]{40}", sha)
        assert gh.read_file("acme/shop", "conf/app.yml", sha) == b"port: 8080\n"
        assert gh.read_file("acme/shop", "conf/app.yml", "main") is None
        assert gh.permission("acme/shop", "carol") == "maintain"
        assert gh.permission("acme/shop", "mallory") == "none"

        pull = gh.pull("acme/shop", s.facts["pull"])
        assert (pull.head_sha, pull.head_ref, pull.is_fork, pull.author) == (
            sha,
            "feature/replay",
            False,
            "bob",
        )
        # What /deploy needs of the pull request: one GraphQL query.
        read = lambda: gh.pull_facts("acme/shop", pull.number, approval=True, checks=True)  # noqa: E731
        assert s.calls(read) == 1
        facts = read()
        assert (facts.pull, facts.approved, facts.head_checks) == (pull, True, "success")
        assert gh.checks_state("acme/shop", sha) == "success"
        with pytest.raises(NotFound):
            gh.pull("acme/shop", 9999)
        build = gh.build_run("acme/shop", sha)
        assert build is not None and (build.status, build.conclusion) == ("completed", "success")


# --- writing ---------------------------------------------------------------------------


def setup_writes(world: GitHubWorld) -> dict[str, Any]:
    issue = world.call("POST", "/repos/acme/shop/issues", {"title": "Deploy", "user": "bob"})
    path = f"/repos/acme/shop/issues/{issue['number']}/comments"
    comment = world.call("POST", path, {"body": "/deploy prod", "user": "carol"})
    world.push("acme/gitops", "autostack/shop-prod", {"a": "2\n"})
    return {"issue": issue["number"], "comment": comment["id"]}


def test_writes() -> None:
    with stage("writes", setup_writes) as s:
        gh, issue = s.gh, s.facts["issue"]
        gh.react("acme/shop", s.facts["comment"])
        first = gh.upsert_comment("acme/shop", issue, "cmd-1", "⏳ queued")
        edit = lambda: gh.upsert_comment("acme/shop", issue, "cmd-1", "✅ deployed")  # noqa: E731
        assert s.calls(edit) == 1

        pr = gh.open_or_update_pr("acme/gitops", "autostack/shop-prod", "main", "Deploy", "b")
        again = gh.open_or_update_pr("acme/gitops", "autostack/shop-prod", "main", "Deploy", "b")
        assert (pr.created, again.created, again.number) == (True, False, pr.number)
        merge_sha = gh.merge_pr("acme/gitops", pr.number, "squash", sha=pr.head_sha)
        assert re.fullmatch(r"[0-9a-f]{40}", merge_sha)

        sha = gh.resolve_ref("acme/shop", "main")
        deployment = gh.create_deployment("acme/shop", sha, "prod", {"app": "shop"}, "Deploy")
        gh.deployment_status("acme/shop", deployment, "in_progress", description="syncing")
        gh.deployment_status(
            "acme/shop",
            deployment,
            "success",
            environment_url="https://shop.example.com",
            log_url="https://argocd.example.com/applications/shop-prod",
        )
        check = gh.check_run("acme/shop", sha, "AutoStack deploy (prod)", "in_progress")
        done = gh.check_run(
            "acme/shop", sha, "AutoStack deploy (prod)", "completed", "success", existing_id=check
        )
        assert done == check

        opened = gh.open_or_update_issue("acme/shop", "drift:shop-prod", "Drift", "OutOfSync")
        updated = gh.open_or_update_issue("acme/shop", "drift:shop-prod", "Drift", "Still")
        assert (opened.created, updated.number) == (True, opened.number)
        assert gh.close_issue("acme/shop", "drift:shop-prod") is True
        assert first.id > 0


# --- faults and the setup flow ---------------------------------------------------------


def setup_faults(world: GitHubWorld) -> dict[str, Any]:
    world.call("POST", "/users", {"login": "zed"})
    world.call("POST", "/repos", {"owner": "zed", "name": "solo"})
    world.fault(kind="error", status=500, first=1, route="/graphql")
    # After the fault, the installation's GraphQL budget is spent.
    [installation] = world.state.store.list("installation")
    world.state.rate.set_remaining(
        f"graphql:installation:{installation['id']}", 0, START.timestamp()
    )
    world.fault(kind="secondary_rate_limit", retry_after=42, first=1, route="/repos/*/issues")
    manifest = {"name": "AutoStack", "redirect_url": "http://localhost:8000/setup/done"}
    return {"code": world.call("POST", "/app-manifests", {"manifest": manifest})["code"]}


def test_faults_and_manifest() -> None:
    with stage("faults", setup_faults) as s:
        gh = s.gh
        with pytest.raises(NotFound):
            gh.repo("zed/solo")
        with pytest.raises(TransientError) as server_error:
            gh.pull("acme/shop", 1)
        assert server_error.value.retry_after is None
        with pytest.raises(TransientError) as graphql_limited:
            gh.checks_state("acme/shop", "main")
        assert "RATE_LIMITED" in str(graphql_limited.value)
        assert graphql_limited.value.retry_after == 3600  # the budget's reset, an hour on
        with pytest.raises(TransientError) as limited:
            gh.open_or_update_issue("acme/shop", "drift:x", "t", "b")
        assert limited.value.retry_after == 42
        credentials = gh.convert_manifest(s.facts["code"])
        assert credentials.app_id == s.facts["app_id"]
        assert credentials.pem and credentials.webhook_secret


def test_cassettes_hold_no_secrets() -> None:
    recorded = sorted(CASSETTES.glob("*.yaml"))
    assert {p.stem for p in recorded} == {"reads", "writes", "faults"}
    for cassette in recorded:
        text = cassette.read_text()
        assert "authorization" not in text.lower().replace("authorizations", "")
        found = LEAKS.search(text)
        assert found is None, f"{cassette.name} holds {found.group(0)!r}"
        assert "REDACTED-installation-token" in text  # each scenario minted a token
    manifest = (CASSETTES / "faults.yaml").read_text()
    assert "REDACTED-private-key" in manifest and "REDACTED-webhook-secret" in manifest


def test_scrubbing_replaces_secrets_and_fixes_the_length() -> None:
    body = json.dumps({"token": "ghs_" + "a" * 36, "note": "ghu_" + "b" * 30}).encode()
    response: dict[str, Any] = {
        "body": {"string": body},
        "headers": {"Content-Length": [str(len(body))]},
    }
    scrubbed = scrub_response(response)["body"]["string"]
    assert b"ghs_" not in scrubbed and b"ghu_" not in scrubbed
    assert json.loads(scrubbed)["token"] == "REDACTED-installation-token"
    assert response["headers"]["Content-Length"] == [str(len(scrubbed))]
