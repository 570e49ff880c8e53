"""The GraphQL queries the adapter sends to GitHub, and pure readings of their answers.

``/deploy`` needs a pull request, its reviews and its head commit's checks. Over REST that is
four requests (the pull request, its reviews, the combined status, the check runs); the
``PULL`` query asks for all of it at once, and ``@include(if:)`` leaves out the reviews and
the checks when the environment's policy does not ask for them. A connection with more than
100 items is continued with its cursor (``PullPages``), asking only for what is left.

The answers are read into the same dictionaries the REST readings in ``shapes`` take, so
approval and checks are decided by the same ``is_approved`` and ``checks_verdict``.

Every query here is validated against GitHub's published schema by the tests
(tests/fixtures/reference/github/graphql/), which is trimmed to what these queries reach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.adapters.github.shapes import checks_verdict, is_approved
from bot.ports import ChecksState, NotFound, PullFacts, PullInfo

Doc = Mapping[str, Any]
PAGE = 100  # the most GitHub gives in one page of a connection
MAX_PAGES = 20

_CONTEXTS = """
fragment AutoStackContexts on StatusCheckRollupContextConnection {
  pageInfo { hasNextPage endCursor }
  nodes {
    __typename
    ... on CheckRun { name status conclusion checkSuite { app { databaseId } } }
    ... on StatusContext { context state }
  }
}
"""

PULL = (
    """
query AutoStackPull(
  $owner: String!
  $name: String!
  $number: Int!
  $withReviews: Boolean!
  $reviewsAfter: String
  $withChecks: Boolean!
  $checksAfter: String
) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      number
      state
      merged
      url
      headRefName
      headRefOid
      baseRefName
      isCrossRepository
      headRepository { nameWithOwner }
      author { __typename login }
      reviews(first: 100, after: $reviewsAfter) @include(if: $withReviews) {
        pageInfo { hasNextPage endCursor }
        nodes { fullDatabaseId state submittedAt author { __typename login } }
      }
      statusCheckRollup @include(if: $withChecks) {
        contexts(first: 100, after: $checksAfter) { ...AutoStackContexts }
      }
    }
  }
}
""".strip()
    + "\n"
    + _CONTEXTS
)

COMMIT_CHECKS = (
    """
query AutoStackCommitChecks(
  $owner: String!
  $name: String!
  $expression: String!
  $after: String
) {
  repository(owner: $owner, name: $name) {
    object(expression: $expression) {
      __typename
      oid
      ... on Commit {
        statusCheckRollup {
          contexts(first: 100, after: $after) { ...AutoStackContexts }
        }
      }
    }
  }
}
""".strip()
    + "\n"
    + _CONTEXTS
)

# Every query the bot can send, by operation name.
QUERIES: dict[str, str] = {"AutoStackPull": PULL, "AutoStackCommitChecks": COMMIT_CHECKS}


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint for a REST base URL (``AUTOSTACK_GITHUB_API_URL``).

    ``https://api.github.com`` -> ``https://api.github.com/graphql``; GitHub Enterprise Server
    serves REST under ``https://HOST/api/v3`` and GraphQL at ``https://HOST/api/graphql``.
    """
    parts = urlsplit(api_url.strip())
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v3") if path.endswith("/api/v3") else path
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/graphql", "", ""))


def owner_and_name(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    return owner, name


@dataclass
class Connection:
    """One paginated connection being read: what came so far, and where to go on."""

    wanted: bool
    nodes: list[Doc] = field(default_factory=list)
    after: str | None = None

    def take(self, page: Doc | None) -> None:
        """Add a page; keep wanting more only when GitHub says there is a next page."""
        if page is None:
            self.wanted = False
            return
        self.nodes.extend(node for node in page.get("nodes") or [] if node is not None)
        info = page.get("pageInfo") or {}
        cursor = info.get("endCursor")
        self.wanted = bool(info.get("hasNextPage")) and isinstance(cursor, str)
        self.after = cursor if self.wanted else None


class PullPages:
    """Reading ``PULL`` page by page: the first request asks for everything the caller
    wants; a later one only for the connections that have another page."""

    def __init__(self, repo: str, number: int, *, approval: bool, checks: bool):
        self.repo, self.number = repo, int(number)
        self.approval, self.checks = approval, checks
        self.reviews = Connection(approval)
        self.contexts = Connection(checks)
        self.pull: PullInfo | None = None
        self.has_rollup = False

    def variables(self) -> dict[str, Any]:
        owner, name = owner_and_name(self.repo)
        return {
            "owner": owner,
            "name": name,
            "number": self.number,
            "withReviews": self.reviews.wanted,
            "reviewsAfter": self.reviews.after,
            "withChecks": self.contexts.wanted,
            "checksAfter": self.contexts.after,
        }

    def take(self, data: Doc) -> bool:
        """Read one answer; True when another request is needed."""
        node = (data.get("repository") or {}).get("pullRequest")
        if node is None:
            raise NotFound(f"GitHub has no pull request {self.repo}#{self.number}")
        if self.pull is None:
            self.pull = pull_info_of(node)
        if self.reviews.wanted:
            self.reviews.take(node.get("reviews"))
        if self.contexts.wanted:
            rollup = node.get("statusCheckRollup")
            self.has_rollup = self.has_rollup or rollup is not None
            self.contexts.take((rollup or {}).get("contexts"))
        return self.reviews.wanted or self.contexts.wanted

    def facts(self, own_app_id: int | None) -> PullFacts:
        assert self.pull is not None, "no answer read yet"
        approved = is_approved(reviews_as_rest(self.reviews.nodes)) if self.approval else None
        checks = None
        if self.checks:
            checks = verdict_of(self.contexts.nodes, own_app_id) if self.has_rollup else "none"
        return PullFacts(self.pull, approved, checks)


def pull_info_of(node: Doc) -> PullInfo:
    """A ``PullRequest`` node as the port's ``PullInfo``, with REST's spellings: ``state``
    open or closed (GraphQL's MERGED is a closed one), a bot author with ``[bot]``, and a
    pull request whose head repository is gone counted as coming from a fork."""
    head_repo = node.get("headRepository")
    head_name = head_repo["nameWithOwner"] if head_repo else None
    return PullInfo(
        number=int(node["number"]),
        state="open" if node["state"] == "OPEN" else "closed",  # MERGED is closed on REST
        merged=bool(node["merged"]),
        head_sha=node["headRefOid"],
        head_ref=node["headRefName"],
        head_repo_full_name=head_name,
        base_ref=node["baseRefName"],
        is_fork=head_repo is None or bool(node["isCrossRepository"]),
        author=login_of(node.get("author")) or "ghost",
        html_url=node["url"],
    )


def login_of(actor: Doc | None) -> str | None:
    """An ``Actor``'s login as REST spells it: GraphQL names a bot without ``[bot]``."""
    if not actor or not actor.get("login"):
        return None
    login = str(actor["login"])
    return f"{login}[bot]" if actor.get("__typename") == "Bot" else login


def reviews_as_rest(nodes: Sequence[Doc]) -> list[dict[str, Any]]:
    """``PullRequestReview`` nodes in the fields ``is_approved`` reads from REST reviews."""
    return [
        {
            "id": int(node.get("fullDatabaseId") or 0),  # a BigInt: GitHub sends a string
            "state": node.get("state"),
            "submitted_at": node.get("submittedAt"),
            "user": {"login": login_of(node.get("author"))} if node.get("author") else None,
        }
        for node in nodes
    ]


def rollup_as_rest(nodes: Sequence[Doc]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A rollup's contexts as a combined status and check runs, as ``checks_verdict`` reads
    them from REST: GraphQL's upper-case enums are REST's lower-case values."""
    statuses: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for node in nodes:
        kind = node.get("__typename")
        if kind == "StatusContext":
            statuses.append({"context": node["context"], "state": str(node["state"]).lower()})
        elif kind == "CheckRun":
            app = (node.get("checkSuite") or {}).get("app")
            conclusion = node.get("conclusion")
            runs.append(
                {
                    "name": node["name"],
                    "status": str(node["status"]).lower(),
                    "conclusion": str(conclusion).lower() if conclusion else None,
                    "app": {"id": app.get("databaseId")} if app else None,
                }
            )
    return {"statuses": statuses}, runs


def verdict_of(nodes: Sequence[Doc], own_app_id: int | None) -> ChecksState:
    combined, runs = rollup_as_rest(nodes)
    return checks_verdict(combined, runs, own_app_id, own_prefix="autostack")


class CommitPages:
    """Reading ``COMMIT_CHECKS`` page by page: the checks on one commit (a sha or a ref)."""

    def __init__(self, repo: str, ref: str):
        self.repo, self.ref = repo, ref
        self.contexts = Connection(True)
        self.has_rollup = False

    def variables(self) -> dict[str, Any]:
        owner, name = owner_and_name(self.repo)
        return {"owner": owner, "name": name, "expression": self.ref, "after": self.contexts.after}

    def take(self, data: Doc) -> bool:
        """Read one answer; True when another request is needed."""
        found = (data.get("repository") or {}).get("object")
        if found is None:
            raise NotFound(f"GitHub has no commit {self.ref[:40]} in {self.repo}")
        if found.get("__typename") != "Commit":
            kind = str(found.get("__typename") or "object").lower()
            raise NotFound(f"{self.ref[:40]} is a {kind} in {self.repo}, not a commit")
        rollup = found.get("statusCheckRollup")
        if rollup is None:  # nothing has reported on the commit
            self.contexts.wanted = False
            return False
        self.has_rollup = True
        self.contexts.take(rollup.get("contexts"))
        return self.contexts.wanted

    def verdict(self, own_app_id: int | None) -> ChecksState:
        return verdict_of(self.contexts.nodes, own_app_id) if self.has_rollup else "none"
