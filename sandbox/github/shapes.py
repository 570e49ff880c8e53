"""Pure builders of GitHub's JSON shapes (users, repositories, the App) from stored documents.

Every ``url`` points at the sandbox's API root and every ``html_url`` at its web root (the
same base), so clients that follow links never leave the sandbox.
"""

from __future__ import annotations

import base64
import time
from typing import Any

Doc = dict[str, Any]
API_VERSION = "2022-11-28"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def node_id(kind: str, ident: object) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


def user(base: str, acct: Doc) -> Doc:
    login = acct["login"]
    api = f"{base}/users/{login}"
    return {
        "login": login,
        "id": acct["id"],
        "node_id": node_id("User" if acct["type"] == "User" else "Organization", acct["id"]),
        "avatar_url": f"{base}/avatars/{login}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{base}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": acct["type"],
        "user_view_type": "public",
        "site_admin": False,
    }


def full_user(base: str, acct: Doc, repos: list[Doc], private: bool = False) -> Doc:
    """``GET /users/{username}`` (public) or, for oneself, ``GET /user`` (private)."""
    shaped = user(base, acct)
    created = iso(acct.get("created_at") or 0)
    public = sum(1 for r in repos if not r["private"])
    shaped.update(
        name=acct.get("name"),
        company=None,
        blog="",
        location=None,
        email=acct.get("email") if private else None,
        hireable=None,
        bio=None,
        twitter_username=None,
        public_repos=public,
        public_gists=0,
        followers=0,
        following=0,
        created_at=created,
        updated_at=created,
    )
    if private:
        shaped.update(
            user_view_type="private",
            private_gists=0,
            total_private_repos=len(repos) - public,
            owned_private_repos=len(repos) - public,
            disk_usage=0,
            collaborators=0,
            two_factor_authentication=False,
        )
    return shaped


def bot_user(base: str, app: Doc) -> Doc:
    """The ``<slug>[bot]`` account that acts for the App's installations."""
    return user(base, {"login": f"{app['slug']}[bot]", "id": app["bot_id"], "type": "Bot"})


def organization(base: str, acct: Doc) -> Doc:
    login = acct["login"]
    api = f"{base}/orgs/{login}"
    return {
        "login": login,
        "id": acct["id"],
        "node_id": node_id("Organization", acct["id"]),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{base}/avatars/{login}",
        "description": None,
    }


_REPO_LINKS = {
    "forks_url": "/forks",
    "keys_url": "/keys{/key_id}",
    "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams",
    "hooks_url": "/hooks",
    "issue_events_url": "/issues/events{/number}",
    "events_url": "/events",
    "assignees_url": "/assignees{/user}",
    "branches_url": "/branches{/branch}",
    "tags_url": "/tags",
    "blobs_url": "/git/blobs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "trees_url": "/git/trees{/sha}",
    "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages",
    "stargazers_url": "/stargazers",
    "contributors_url": "/contributors",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}",
    "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}",
    "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}",
    "merges_url": "/merges",
    "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads",
    "issues_url": "/issues{/number}",
    "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}",
    "releases_url": "/releases{/id}",
    "deployments_url": "/deployments",
}


def full_name(repo: Doc) -> str:
    return f"{repo['owner']}/{repo['name']}"


def repo_api(base: str, repo: Doc) -> str:
    return f"{base}/repos/{full_name(repo)}"


def minimal_repo(base: str, repo: Doc, owner: Doc) -> Doc:
    api = repo_api(base, repo)
    shape: Doc = {
        "id": repo["id"],
        "node_id": node_id("Repository", repo["id"]),
        "name": repo["name"],
        "full_name": full_name(repo),
        "private": repo["private"],
        "owner": user(base, owner),
        "html_url": f"{base}/{full_name(repo)}",
        "description": repo.get("description"),
        "fork": bool(repo.get("fork")),
        "url": api,
    }
    shape.update({name: api + suffix for name, suffix in _REPO_LINKS.items()})
    return shape


def repository(
    base: str, repo: Doc, owner: Doc, permission: str | None = None, timestamps: str = "iso"
) -> Doc:
    """A full repository; ``timestamps="unix"`` gives the integers push webhooks carry."""
    shape = minimal_repo(base, repo, owner)
    when = (lambda ts: int(ts)) if timestamps == "unix" else iso
    shape.update(
        {
            "created_at": when(repo["created_at"]),
            "updated_at": iso(repo["updated_at"]),
            "pushed_at": when(repo.get("pushed_at") or repo["created_at"]),
            "git_url": f"{base.replace('http', 'git', 1)}/{full_name(repo)}.git",
            "ssh_url": f"git@sandbox:{full_name(repo)}.git",
            "clone_url": f"{base}/{full_name(repo)}.git",
            "svn_url": f"{base}/{full_name(repo)}",
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "forks_count": 0,
            "forks": 0,
            "open_issues_count": repo.get("open_issues", 0),
            "open_issues": repo.get("open_issues", 0),
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repo["private"] else "public",
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "default_branch": repo["default_branch"],
            "network_count": 0,
            "subscribers_count": 0,
        }
    )
    if permission is not None:
        shape["permissions"] = permission_flags(permission)
    return shape


def permission_flags(permission: str) -> Doc:
    order = ["none", "read", "triage", "write", "maintain", "admin"]
    level = order.index(permission) if permission in order else 0
    return {
        "admin": level >= 5,
        "maintain": level >= 4,
        "push": level >= 3,
        "triage": level >= 2,
        "pull": level >= 1,
    }


APP_PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "deployments": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
APP_EVENTS = [
    "deployment_status",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "push",
    "workflow_run",
]


def integration(base: str, app: Doc, owner: Doc) -> Doc:
    return {
        "id": app["id"],
        "slug": app["slug"],
        "client_id": app["client_id"],
        "node_id": node_id("Integration", app["id"]),
        "owner": user(base, owner),
        "name": app["name"],
        "description": "AutoStack deploys apps through GitOps.",
        "external_url": base,
        "html_url": f"{base}/apps/{app['slug']}",
        "created_at": iso(app["created_at"]),
        "updated_at": iso(app["created_at"]),
        "permissions": dict(APP_PERMISSIONS),
        "events": list(APP_EVENTS),
        "installations_count": app.get("installations_count", 0),
    }


def installation(base: str, inst: Doc, app: Doc, account: Doc) -> Doc:
    # GitHub's description of ``GET /app/installations`` requires the Enterprise fields of
    # the account too (an ``allOf``); a user carrying them satisfies both readings.
    owner = user(base, account)
    owner.update(
        name=account.get("name"),
        slug=account["login"].lower(),
        created_at=iso(account.get("created_at") or inst["created_at"]),
        updated_at=iso(account.get("created_at") or inst["created_at"]),
    )
    return {
        "id": inst["id"],
        "account": owner,
        "repository_selection": inst["repository_selection"],
        "access_tokens_url": f"{base}/app/installations/{inst['id']}/access_tokens",
        "repositories_url": f"{base}/installation/repositories",
        "html_url": f"{base}/settings/installations/{inst['id']}",
        "app_id": app["id"],
        "app_slug": app["slug"],
        "target_id": account["id"],
        "target_type": account["type"],
        "permissions": dict(APP_PERMISSIONS),
        "events": list(APP_EVENTS),
        "created_at": iso(inst["created_at"]),
        "updated_at": iso(inst["created_at"]),
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }
