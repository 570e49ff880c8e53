"""Pull requests: open, update, synchronize, review and merge (a real merge commit, squash or
rebase in the bare repository), with the webhooks GitHub sends for each.
"""

from __future__ import annotations

from typing import Any

from sandbox.github import bare, issue_shapes, shapes
from sandbox.github.pushes import move_ref
from sandbox.github.state import GitHubState, StateError

Doc = dict[str, Any]
MERGER = bare.Person("GitHub", "noreply@github.com")


def key(repo: Doc, number: int) -> str:
    return f"{repo['id']}#{number}"


def get_pull(state: GitHubState, repo: Doc, number: int) -> Doc:
    pr = state.store.get("pull", key(repo, number))
    if pr is None:
        raise StateError(404, "Not Found")
    return pr


def save(state: GitHubState, pr: Doc) -> None:
    pr["updated_at"] = state.clock()
    state.store.put("pull", f"{pr['repo_id']}#{pr['number']}", pr, pr["repo_id"])


def _head_ref(pr: Doc) -> str:
    return f"refs/pull/{pr['number']}/head"


def _import_head(state: GitHubState, repo: Doc, head_repo: Doc, head_ref: str) -> None:
    """Bring a fork's branch objects into the base repository (merges happen there)."""
    if head_repo["id"] != repo["id"]:
        src = str(state.repo_path(head_repo))
        bare.git(state.repo_path(repo), "fetch", "-q", src, f"refs/heads/{head_ref}")


def _fetch_head(state: GitHubState, repo: Doc, pr: Doc) -> None:
    """Keep ``refs/pull/N/head`` in the base repository, as GitHub does (also for forks)."""
    head_repo = state.repo_by_id(pr["head_repo_id"]) or repo
    _import_head(state, repo, head_repo, pr["head_ref"])
    bare.update_ref(state.repo_path(repo), _head_ref(pr), pr["head_sha"])


def shape(state: GitHubState, pr: Doc, full: bool = True) -> Doc:
    base = state.public_url
    repo = state.repo_by_id(pr["repo_id"])
    head_repo = state.repo_by_id(pr["head_repo_id"])
    assert repo is not None
    path = state.repo_path(repo)
    base_sha = bare.rev_parse(path, f"refs/heads/{pr['base_ref']}") or pr["base_sha"]
    repo_api = shapes.repo_api(base, repo)
    html = f"{base}/{shapes.full_name(repo)}"
    author = state.account(pr["user"]) or state.actor(None)
    head_owner = state.account(head_repo["owner"]) if head_repo else None
    head = issue_shapes.branch_end(
        head_repo["owner"] if head_repo else "unknown",
        pr["head_ref"],
        pr["head_sha"],
        shapes.user(base, head_owner or author),
        state.repo_shape(head_repo) if head_repo else None,
    )
    base_owner = state.account(repo["owner"]) or author
    base_end = issue_shapes.branch_end(
        repo["owner"],
        pr["base_ref"],
        base_sha,
        shapes.user(base, base_owner),
        state.repo_shape(repo),
    )
    assoc = issue_shapes.association(
        author["login"], repo["owner"], state.permission_of(repo, author["login"])
    )
    extra: Doc = {"author_association": assoc}
    if full:
        extra.update(_computed(state, pr, path, base_sha))
    return issue_shapes.pull_request(
        base, pr, repo_api, html, shapes.user(base, author), head, base_end, extra
    )


def _computed(state: GitHubState, pr: Doc, path: Any, base_sha: str) -> Doc:
    head_sha = pr["head_sha"]
    if pr.get("merged"):
        mergeable, mstate = None, "unknown"
        since = pr["base_sha"]
    else:
        clean = bare.merge_trees(path, base_sha, head_sha) is not None
        mergeable, mstate = clean, "clean" if clean else "dirty"
        since = bare.merge_base(path, base_sha, head_sha) or base_sha
    adds, dels, files = bare.diff_stats(path, since, head_sha)
    merged_by = state.account(pr["merged_by"]) if pr.get("merged_by") else None
    if pr.get("merged_by") and merged_by is None:
        merged_by = state.actor(None)
    return {
        "merged": bool(pr.get("merged")),
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": mstate,
        "merged_by": shapes.user(state.public_url, merged_by) if merged_by else None,
        "comments": pr.get("comments", 0),
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": len(bare.rev_list(path, since, head_sha)),
        "additions": adds,
        "deletions": dels,
        "changed_files": len(files),
    }


def _resolve_head(state: GitHubState, repo: Doc, head: str) -> tuple[Doc, str]:
    owner, _, branch = head.rpartition(":")
    if not owner or owner.lower() == repo["owner"].lower():
        return repo, branch
    fork = next(
        (
            r
            for r in state.store.list("repo")
            if r["owner"].lower() == owner.lower() and r.get("parent_id") == repo["id"]
        ),
        None,
    ) or state.repo(owner, repo["name"])
    if fork is None:
        raise StateError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
        )
    return fork, branch


def open_pull(
    state: GitHubState,
    repo: Doc,
    head: str,
    base_ref: str,
    title: str,
    body: str | None,
    actor: Doc,
    draft: bool = False,
) -> Doc:
    head_repo, head_ref = _resolve_head(state, repo, head)
    path = state.repo_path(repo)
    head_sha = bare.rev_parse(state.repo_path(head_repo), f"refs/heads/{head_ref}")
    base_sha = bare.rev_parse(path, f"refs/heads/{base_ref}")
    if head_sha is None or base_sha is None:
        which = "head" if head_sha is None else "base"
        raise StateError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "field": which, "code": "invalid"}],
        )
    for other in state.store.list("pull", repo["id"]):
        if (
            other["state"] == "open"
            and other["head_ref"] == head_ref
            and other["base_ref"] == base_ref
            and other["head_repo_id"] == head_repo["id"]
        ):
            message = f"A pull request already exists for {head_repo['owner']}:{head_ref}."
            raise StateError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "custom", "message": message}],
            )
    _import_head(state, repo, head_repo, head_ref)
    if not bare.rev_list(path, base_sha, head_sha):
        message = f"No commits between {base_ref} and {head_ref}"
        raise StateError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "code": "custom", "message": message}],
        )
    now = state.clock()
    pr: Doc = {
        "id": state.store.next_id("pull", 7000000),
        "issue_id": state.store.next_id("issue", 9000000),
        "number": state.store.next_id(f"number:{repo['id']}"),
        "repo_id": repo["id"],
        "head_repo_id": head_repo["id"],
        "head_ref": head_ref,
        "head_sha": head_sha,
        "base_ref": base_ref,
        "base_sha": base_sha,
        "title": title,
        "body": body,
        "state": "open",
        "draft": draft,
        "user": actor["login"],
        "created_at": now,
        "updated_at": now,
        "comments": 0,
    }
    _fetch_head(state, repo, pr)
    save(state, pr)
    state.emit(
        "pull_request",
        "opened",
        {"number": pr["number"], "pull_request": shape(state, pr)},
        repo,
        actor,
    )
    return pr


def update_pull(state: GitHubState, repo: Doc, pr: Doc, fields: Doc, actor: Doc) -> Doc:
    changes: Doc = {}
    for name in ("title", "body", "base"):
        if fields.get(name) is not None:
            stored = "base_ref" if name == "base" else name
            changes[name] = (
                {"from": pr[stored]} if name != "base" else {"ref": {"from": pr["base_ref"]}}
            )
            pr[stored] = fields[name]
    action = "edited" if changes else None
    new_state = fields.get("state")
    if new_state in ("open", "closed") and new_state != pr["state"] and not pr.get("merged"):
        pr["state"] = new_state
        pr["closed_at"] = state.clock() if new_state == "closed" else None
        action = "closed" if new_state == "closed" else "reopened"
    save(state, pr)
    if action:
        body: Doc = {"number": pr["number"], "pull_request": shape(state, pr)}
        if action == "edited":
            body["changes"] = changes
        state.emit("pull_request", action, body, repo, actor)
    return pr


def synchronize(state: GitHubState, head_repo: Doc, branch: str, after: str, sender: Doc) -> None:
    """A branch moved: update the open pull requests it heads and say ``synchronize``."""
    for pr in state.store.list("pull"):
        if (
            pr["state"] != "open"
            or pr["head_repo_id"] != head_repo["id"]
            or pr["head_ref"] != branch
        ):
            continue
        if pr["head_sha"] == after:
            continue
        before, pr["head_sha"] = pr["head_sha"], after
        repo = state.repo_by_id(pr["repo_id"])
        if repo is None:
            continue
        _fetch_head(state, repo, pr)
        save(state, pr)
        body = {
            "number": pr["number"],
            "before": before,
            "after": after,
            "pull_request": shape(state, pr),
        }
        state.emit("pull_request", "synchronize", body, repo, sender)


def _merge_message(
    pr: Doc, method: str, title: str | None, message: str | None, head_owner: str
) -> str:
    if method == "squash":
        default_title = f"{pr['title']} (#{pr['number']})"
    else:
        default_title = f"Merge pull request #{pr['number']} from {head_owner}/{pr['head_ref']}"
    body = message if message is not None else (pr["title"] if method == "merge" else "")
    return f"{title or default_title}\n\n{body}".rstrip() + "\n"


def merge_pull(
    state: GitHubState,
    repo: Doc,
    pr: Doc,
    actor: Doc,
    method: str = "merge",
    title: str | None = None,
    message: str | None = None,
    expected_sha: str | None = None,
) -> str:
    """Merge like GitHub's merge button; returns the new tip of the base branch."""
    if pr["state"] != "open" or pr.get("merged"):
        raise StateError(405, "Pull Request is not mergeable")
    if expected_sha and expected_sha != pr["head_sha"]:
        raise StateError(409, "Head branch was modified. Review and try the merge again.")
    path = state.repo_path(repo)
    base_ref = f"refs/heads/{pr['base_ref']}"
    base_sha = bare.rev_parse(path, base_ref)
    if base_sha is None:
        raise StateError(405, "Base branch was deleted")
    author = bare.Person(actor.get("name") or actor["login"], actor.get("email") or "")
    head_repo = state.repo_by_id(pr["head_repo_id"]) or repo
    text = _merge_message(pr, method, title, message, head_repo["owner"])
    new_sha = _merged_commit(path, base_sha, pr["head_sha"], method, text, author)
    if new_sha is None:
        raise StateError(405, "Pull Request is not mergeable")
    pr.update(merged=True, state="closed", merged_at=state.clock(), closed_at=state.clock())
    pr.update(merged_by=actor["login"], merge_commit_sha=new_sha, base_sha=base_sha)
    save(state, pr)
    move_ref(state, repo, base_ref, new_sha, actor, expected_old=base_sha)
    body = {"number": pr["number"], "pull_request": shape(state, pr)}
    state.emit("pull_request", "closed", body, repo, actor)
    return new_sha


def _merged_commit(
    path: Any, base_sha: str, head_sha: str, method: str, text: str, author: bare.Person
) -> str | None:
    if method == "rebase":
        tip = base_sha
        for commit in bare.rev_list(path, base_sha, head_sha):
            replayed = bare.replay_commit(path, commit, tip, MERGER)
            if replayed is None:
                return None
            tip = replayed
        return tip
    tree = bare.merge_trees(path, base_sha, head_sha)
    if tree is None:
        return None
    parents = [base_sha] if method == "squash" else [base_sha, head_sha]
    return bare.commit_tree(path, tree, parents, text, author, MERGER)


REVIEW_STATES = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}


def create_review(
    state: GitHubState,
    repo: Doc,
    pr: Doc,
    actor: Doc,
    event: str,
    body: str | None,
    commit_id: str | None = None,
) -> Doc:
    if event not in REVIEW_STATES:
        raise StateError(
            422,
            "Unprocessable Entity",
            [{"resource": "PullRequestReview", "field": "event", "code": "invalid"}],
        )
    if event in ("APPROVE", "REQUEST_CHANGES") and actor["login"] == pr["user"]:
        verb = "approve" if event == "APPROVE" else "request changes on"
        raise StateError(422, f"Unprocessable Entity: Can not {verb} your own pull request")
    review = {
        "id": state.store.next_id("review", 80000000),
        "number": pr["number"],
        "user": actor["login"],
        "body": body or "",
        "state": REVIEW_STATES[event],
        "commit_id": commit_id or pr["head_sha"],
        "submitted_at": state.clock(),
    }
    state.store.put("review", review["id"], review, key(repo, pr["number"]))
    shaped = review_shape(state, repo, review)
    shaped["state"] = shaped["state"].lower()  # webhooks spell review states in lower case
    payload = {
        "review": shaped,
        "pull_request": shape(state, pr, full=False),
    }
    state.emit("pull_request_review", "submitted", payload, repo, actor)
    return review


def review_shape(state: GitHubState, repo: Doc, review: Doc) -> Doc:
    base = state.public_url
    user = state.account(review["user"]) or state.actor(None)
    assoc = issue_shapes.association(
        user["login"], repo["owner"], state.permission_of(repo, user["login"])
    )
    html = f"{base}/{shapes.full_name(repo)}"
    return issue_shapes.review(
        review, shapes.repo_api(base, repo), html, shapes.user(base, user), assoc
    )


def reviews(state: GitHubState, repo: Doc, pr: Doc) -> list[Doc]:
    return state.store.list("review", key(repo, pr["number"]))
