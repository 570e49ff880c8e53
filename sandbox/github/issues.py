"""Issues, issue comments (also on pull requests) and comment reactions."""

from __future__ import annotations

from typing import Any

from sandbox.github import issue_shapes, pulls, shapes
from sandbox.github.state import GitHubState, StateError

Doc = dict[str, Any]


def find(state: GitHubState, repo: Doc, number: int) -> Doc:
    """The issue or pull request with ``number`` (they share numbering, as on GitHub)."""
    key = pulls.key(repo, number)
    doc = state.store.get("issue", key) or state.store.get("pull", key)
    if doc is None:
        raise StateError(404, "Not Found")
    return doc


def save(state: GitHubState, doc: Doc) -> None:
    doc["updated_at"] = state.clock()
    kind = "pull" if "head_ref" in doc else "issue"
    state.store.put(kind, f"{doc['repo_id']}#{doc['number']}", doc, doc["repo_id"])


def _repo_bits(state: GitHubState, repo: Doc) -> tuple[str, str]:
    base = state.public_url
    return shapes.repo_api(base, repo), f"{base}/{shapes.full_name(repo)}"


def _assoc(state: GitHubState, repo: Doc, login: str) -> str:
    return issue_shapes.association(login, repo["owner"], state.permission_of(repo, login))


def _user(state: GitHubState, login: str) -> Doc:
    return shapes.user(state.public_url, state.account(login) or state.actor(None))


def issue_shape(state: GitHubState, repo: Doc, doc: Doc) -> Doc:
    repo_api, html = _repo_bits(state, repo)
    rollup = issue_shapes.reaction_rollup(f"{repo_api}/issues/{doc['number']}/reactions", [])
    extra = {"author_association": _assoc(state, repo, doc["user"])}
    return issue_shapes.issue(
        state.public_url, doc, repo_api, html, _user(state, doc["user"]), rollup, extra
    )


def create_issue(state: GitHubState, repo: Doc, title: str, body: str | None, actor: Doc) -> Doc:
    now = state.clock()
    doc = {
        "id": state.store.next_id("issue", 9000000),
        "number": state.store.next_id(f"number:{repo['id']}"),
        "repo_id": repo["id"],
        "title": title,
        "body": body,
        "state": "open",
        "user": actor["login"],
        "comments": 0,
        "created_at": now,
        "updated_at": now,
    }
    save(state, doc)
    repo["open_issues"] = repo.get("open_issues", 0) + 1
    state.save_repo(repo)
    state.emit("issues", "opened", {"issue": issue_shape(state, repo, doc)}, repo, actor)
    return doc


def update_issue(state: GitHubState, repo: Doc, doc: Doc, fields: Doc) -> Doc:
    for name in ("title", "body"):
        if fields.get(name) is not None:
            doc[name] = fields[name]
    new_state = fields.get("state")
    if new_state in ("open", "closed") and new_state != doc["state"]:
        doc["state"] = new_state
        doc["closed_at"] = state.clock() if new_state == "closed" else None
        doc["state_reason"] = fields.get("state_reason") or (
            "completed" if new_state == "closed" else "reopened"
        )
    save(state, doc)
    return doc


def comment_shape(state: GitHubState, repo: Doc, comment: Doc) -> Doc:
    repo_api, html = _repo_bits(state, repo)
    reactions = state.store.list("reaction", str(comment["id"]))
    url = f"{repo_api}/issues/comments/{comment['id']}/reactions"
    rollup = issue_shapes.reaction_rollup(url, reactions)
    assoc = _assoc(state, repo, comment["user"])
    target = state.store.get("pull", pulls.key(repo, comment["number"]))
    user = _user(state, comment["user"])
    return issue_shapes.comment(comment, repo_api, html, user, rollup, assoc, target is not None)


def add_comment(state: GitHubState, repo: Doc, number: int, body: str, actor: Doc) -> Doc:
    target = find(state, repo, number)
    now = state.clock()
    comment = {
        "id": state.store.next_id("comment", 1500000000),
        "number": number,
        "repo_id": repo["id"],
        "body": body,
        "user": actor["login"],
        "created_at": now,
        "updated_at": now,
    }
    state.store.put("comment", comment["id"], comment, repo["id"])
    target["comments"] = target.get("comments", 0) + 1
    save(state, target)
    payload = {
        "issue": issue_shape(state, repo, target),
        "comment": comment_shape(state, repo, comment),
    }
    state.emit("issue_comment", "created", payload, repo, actor)
    return comment


def get_comment(state: GitHubState, repo: Doc, comment_id: int) -> Doc:
    comment = state.store.get("comment", comment_id)
    if comment is None or comment["repo_id"] != repo["id"]:
        raise StateError(404, "Not Found")
    return comment


def add_reaction(state: GitHubState, scope: str, content: str, actor: Doc) -> tuple[Doc, bool]:
    """Add a reaction; an identical one by the same user is returned instead (GitHub's 200)."""
    if content not in issue_shapes.REACTIONS:
        raise StateError(
            422,
            "Validation Failed",
            [{"resource": "Reaction", "field": "content", "code": "invalid"}],
        )
    for existing in state.store.list("reaction", scope):
        if existing["user"] == actor["login"] and existing["content"] == content:
            return existing, False
    doc = {
        "id": state.store.next_id("reaction", 100000),
        "user": actor["login"],
        "content": content,
        "created_at": state.clock(),
    }
    state.store.put("reaction", doc["id"], doc, scope)
    return doc, True


def reaction_shape(state: GitHubState, doc: Doc) -> Doc:
    return issue_shapes.reaction(doc, _user(state, doc["user"]))
