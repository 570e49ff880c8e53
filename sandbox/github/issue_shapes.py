"""Pure builders of GitHub's pull request, issue, comment, review and reaction shapes."""

from __future__ import annotations

from typing import Any

from sandbox.github.shapes import iso, node_id

Doc = dict[str, Any]

REACTIONS = ["+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket"]


def reaction_rollup(url: str, reactions: list[Doc]) -> Doc:
    rollup: Doc = {"url": url, "total_count": len(reactions)}
    for content in REACTIONS:
        rollup[content] = sum(1 for r in reactions if r["content"] == content)
    return rollup


def association(login: str, owner: str, permission: str) -> str:
    if login.lower() == owner.lower():
        return "OWNER"
    if permission in ("write", "maintain", "admin"):
        return "COLLABORATOR"
    return "NONE"


def branch_end(label_owner: str, ref: str, sha: str, user: Doc, repo: Doc | None) -> Doc:
    return {"label": f"{label_owner}:{ref}", "ref": ref, "sha": sha, "user": user, "repo": repo}


def pull_request(
    base: str,
    pr: Doc,
    repo_api: str,
    html: str,
    user: Doc,
    head: Doc,
    base_end: Doc,
    extra: Doc,
) -> Doc:
    """A full pull request; ``extra`` carries the computed fields (mergeable, stats, merged_by)."""
    number = pr["number"]
    url = f"{repo_api}/pulls/{number}"
    issue_url = f"{repo_api}/issues/{number}"
    shape: Doc = {
        "url": url,
        "id": pr["id"],
        "node_id": node_id("PullRequest", pr["id"]),
        "html_url": f"{html}/pull/{number}",
        "diff_url": f"{html}/pull/{number}.diff",
        "patch_url": f"{html}/pull/{number}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{repo_api}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": f"{repo_api}/statuses/{pr['head_sha']}",
        "number": number,
        "state": pr["state"],
        "locked": False,
        "title": pr["title"],
        "user": user,
        "body": pr.get("body"),
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(pr["created_at"]),
        "updated_at": iso(pr["updated_at"]),
        "closed_at": iso(pr.get("closed_at")),
        "merged_at": iso(pr.get("merged_at")),
        "merge_commit_sha": pr.get("merge_commit_sha"),
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": head,
        "base": base_end,
        "_links": {
            "self": {"href": url},
            "html": {"href": f"{html}/pull/{number}"},
            "issue": {"href": issue_url},
            "comments": {"href": f"{issue_url}/comments"},
            "review_comments": {"href": f"{url}/comments"},
            "review_comment": {"href": f"{repo_api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{url}/commits"},
            "statuses": {"href": f"{repo_api}/statuses/{pr['head_sha']}"},
        },
        "author_association": extra.pop("author_association", "NONE"),
        "auto_merge": None,
        "draft": bool(pr.get("draft")),
    }
    shape.update(extra)
    return shape


def issue(
    base: str, doc: Doc, repo_api: str, html: str, user: Doc, reactions: Doc, extra: Doc
) -> Doc:
    """An issue; a pull request seen through the issues API carries ``pull_request`` links."""
    number = doc["number"]
    url = f"{repo_api}/issues/{number}"
    is_pull = "head_ref" in doc
    shape: Doc = {
        "id": doc["issue_id"] if is_pull else doc["id"],
        "node_id": node_id("Issue", doc["issue_id"] if is_pull else doc["id"]),
        "url": url,
        "repository_url": repo_api,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{html}/{'pull' if is_pull else 'issues'}/{number}",
        "number": number,
        "state": doc["state"],
        "state_reason": doc.get("state_reason"),
        "title": doc["title"],
        "body": doc.get("body"),
        "user": user,
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": doc.get("comments", 0),
        "closed_at": iso(doc.get("closed_at")),
        "created_at": iso(doc["created_at"]),
        "updated_at": iso(doc["updated_at"]),
        "author_association": extra.get("author_association", "NONE"),
        "reactions": reactions,
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
    }
    if is_pull:
        shape["draft"] = bool(doc.get("draft"))
        shape["pull_request"] = {
            "url": f"{repo_api}/pulls/{number}",
            "html_url": f"{html}/pull/{number}",
            "diff_url": f"{html}/pull/{number}.diff",
            "patch_url": f"{html}/pull/{number}.patch",
            "merged_at": iso(doc.get("merged_at")),
        }
    return shape


def comment(
    doc: Doc, repo_api: str, html: str, user: Doc, reactions: Doc, assoc: str, is_pull: bool
) -> Doc:
    kind = "pull" if is_pull else "issues"
    return {
        "id": doc["id"],
        "node_id": node_id("IssueComment", doc["id"]),
        "url": f"{repo_api}/issues/comments/{doc['id']}",
        "html_url": f"{html}/{kind}/{doc['number']}#issuecomment-{doc['id']}",
        "issue_url": f"{repo_api}/issues/{doc['number']}",
        "body": doc["body"],
        "user": user,
        "created_at": iso(doc["created_at"]),
        "updated_at": iso(doc["updated_at"]),
        "author_association": assoc,
        "reactions": reactions,
        "performed_via_github_app": None,
    }


def review(doc: Doc, repo_api: str, html: str, user: Doc, assoc: str) -> Doc:
    number = doc["number"]
    url = f"{html}/pull/{number}#pullrequestreview-{doc['id']}"
    return {
        "id": doc["id"],
        "node_id": node_id("PullRequestReview", doc["id"]),
        "user": user,
        "body": doc.get("body") or "",
        "state": doc["state"],
        "html_url": url,
        "pull_request_url": f"{repo_api}/pulls/{number}",
        "author_association": assoc,
        "_links": {
            "html": {"href": url},
            "pull_request": {"href": f"{repo_api}/pulls/{number}"},
        },
        "submitted_at": iso(doc["submitted_at"]),
        "commit_id": doc["commit_id"],
    }


def reaction(doc: Doc, user: Doc) -> Doc:
    return {
        "id": doc["id"],
        "node_id": node_id("Reaction", doc["id"]),
        "user": user,
        "content": doc["content"],
        "created_at": iso(doc["created_at"]),
    }
