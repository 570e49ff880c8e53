"""The GitHub App manifest (``app.yml``) with its URLs filled in, and the GitHub API surface
the bot uses: the REST operations, GraphQL queries, git access and webhook events its
permissions must cover.

The surface is declared here, next to the manifest, so that least privilege can be checked:
tests map every declared operation to the permission GitHub documents for it and scan the
GitHub adapter for calls that are not declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_FILE = ROOT / "app.yml"
WEBHOOK_PATH = "/webhooks/github"
CALLBACK_PATH = "/setup/callback"
MAX_NAME_LENGTH = 34  # GitHub's limit on an App's name

# Sent to every App whether subscribed or not; the bot handles both (onboarding).
ALWAYS_SENT_EVENTS = frozenset({"installation", "installation_repositories"})

# Webhook events the bot subscribes to, and why.
EVENTS_USED: dict[str, str] = {
    "issue_comment": "comment commands: /deploy, /promote, /rollback, /status, /help",
    "pull_request": "a deployment pull request on the GitOps repository merged or closed",
    "push": "a repository that could not be onboarded got a fix: onboard it again",
    "workflow_run": "the build of a commit finished: its image exists (merge-to-deploy)",
}

# Every REST operation the bot calls, as (method, path template of GitHub's REST API
# description), and what for. Calls authenticated as the App itself (JWT) or not at all
# need no installation permission but are listed so that the list is complete.
API_OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "/app-manifests/{code}/conversions"): "setup flow: the new App's credentials",
    ("GET", "/app"): "readiness: GitHub accepts a token signed with the App's key",
    ("GET", "/repos/{owner}/{repo}/installation"): "the installation that covers a repo",
    ("POST", "/app/installations/{installation_id}/access_tokens"): "installation tokens",
    ("GET", "/repos/{owner}/{repo}"): "default branch and clone URL",
    ("GET", "/repos/{owner}/{repo}/contents/{path}"): "autostack.yaml, .github/autostack.yml",
    ("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}"): "files over the contents API's limit",
    ("GET", "/repos/{owner}/{repo}/commits/{ref}"): "the commit a /deploy <ref> names",
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"): "who may deploy",
    ("GET", "/repos/{owner}/{repo}/pulls"): "reuse the open pull request of a branch",
    ("POST", "/repos/{owner}/{repo}/pulls"): "onboarding and deployment pull requests",
    ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}"): "retitle a reused pull request",
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"): "auto-merge landing",
    ("GET", "/repos/{owner}/{repo}/actions/runs"): "is the image of a commit built yet",
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"): "ack a command",
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): "find the bot's comment",
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): "answer a command",
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"): "update the answer",
    ("GET", "/repos/{owner}/{repo}/issues"): "reuse the open issue for a marker",
    ("POST", "/repos/{owner}/{repo}/issues"): "a repo that cannot be onboarded; drift",
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"): "update or close that issue",
    ("POST", "/repos/{owner}/{repo}/deployments"): "a GitHub Deployment per deployment",
    ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"): "its progress",
    ("GET", "/repos/{owner}/{repo}/deployments"): "a Deployment a report cut short made",
    ("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"): "what it was told",
    ("POST", "/repos/{owner}/{repo}/check-runs"): "the deploy check run",
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"): "its progress",
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"): "a check run cut short",
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"): "a status where checks are unavailable",
}

# GraphQL queries the bot sends (bot/adapters/github/queries.py), by operation name, and what
# for; the permissions they need follow from the types they read.
GRAPHQL_QUERIES: dict[str, str] = {
    "AutoStackPull": "a /deploy's pull request, with its reviews and checks if policy asks",
    "AutoStackCommitChecks": "require_checks policy, for a commit other than a PR's head",
}

# Git over HTTPS with an installation token, which the REST description does not cover.
GIT_OPERATIONS: dict[str, str] = {
    "fetch": "clone and fetch the GitOps and app repositories",
    "push": "commit deployments, rollbacks and onboarding branches",
    "push-workflow": "the onboarding branch adds .github/workflows/autostack-build.yml",
}


class ManifestError(ValueError):
    """The manifest cannot be built: a bad public URL or App name."""


def load_manifest(path: Path = MANIFEST_FILE) -> dict[str, Any]:
    """``app.yml`` as a mapping, without the URLs (they depend on where the bot runs)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ManifestError(f"{path} is not a YAML mapping")
    return data


def app_manifest(
    public_url: str, *, name: str | None = None, path: Path = MANIFEST_FILE
) -> dict[str, Any]:
    """The manifest to post to GitHub for a bot reachable at ``public_url``."""
    base = normalise_public_url(public_url)
    manifest = load_manifest(path)
    if name is not None:
        manifest["name"] = validate_name(name)
    manifest["url"] = base
    manifest["hook_attributes"] = {
        **manifest.get("hook_attributes", {}),
        "url": base + WEBHOOK_PATH,
    }
    manifest["redirect_url"] = base + CALLBACK_PATH
    return manifest


def normalise_public_url(public_url: str) -> str:
    """``AUTOSTACK_PUBLIC_URL`` without a trailing slash; refuses what GitHub cannot reach."""
    parts = urlsplit(public_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ManifestError(f"AUTOSTACK_PUBLIC_URL {public_url!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise ManifestError(f"AUTOSTACK_PUBLIC_URL {public_url!r} must not have a query")
    return public_url.strip().rstrip("/")


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 for c in name):
        raise ManifestError(f"an App name has 1 to {MAX_NAME_LENGTH} printable characters")
    return name
