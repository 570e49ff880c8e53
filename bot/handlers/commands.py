"""Comment commands on app-repository issues and pull requests: parse, acknowledge,
authorize, then hand over to the deployment engine (or answer ``/status``)."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.core.commands import (
    Command,
    Deploy,
    Ignore,
    Promote,
    Reply,
    Rollback,
    Status,
    command_text,
    parse_comment,
)
from bot.core.events import Event
from bot.core.messages import refusal_comment, reply_comment
from bot.core.policy import Facts, PrState, Refused, Source, authorize, request_for
from bot.deploy.engine import Deployer
from bot.deploy.landing import deployed_image
from bot.deploy.records import NewDeployment
from bot.handlers import services_of
from bot.handlers.provenance import source_of
from bot.ports import ChecksState, NotFound, PullFacts, PullInfo
from bot.router import HandlerContext, Router
from bot.services import Services
from bot.store import claim_comment
from generators.config import Environment, GitOpsConfig
from generators.overlay import PLACEHOLDER_TAG

router = Router()
log = logging.getLogger(__name__)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")  # images are tagged with the commit they were built from


@router.register("issue_comment", action="created")
def on_comment(event: Event, ctx: HandlerContext) -> None:
    payload = event.payload
    body = str((payload.get("comment") or {}).get("body") or "")
    services = services_of(ctx)
    if not body.lstrip().startswith("/") or event.repository in (None, services.gitops_repo):
        return  # only commands, and only in app repositories
    with services.gitops().one_fetch():  # one GitOps snapshot for the whole command
        _handle(event, ctx, services, body)


def _handle(event: Event, ctx: HandlerContext, services: Services, body: str) -> None:
    payload = event.payload
    config = services.config()
    parsed = parse_comment(
        body, environments=config.environment_names, sender_is_bot=_sender_is_bot(payload)
    )
    if isinstance(parsed, Ignore):
        return
    if _handled_by_another_delivery(event, ctx, parsed):
        return
    call = Call(event, ctx, services, config)
    services.github.react(call.repo, int(payload["comment"]["id"]), "eyes")
    if isinstance(parsed, Reply):
        call.answer(reply_comment(event.delivery_id, parsed.text), f"replied: {parsed.kind}")
        is_help = parsed.kind == "help"
        ctx.metrics.commands.labels(
            command="help" if is_help else "unparsed", outcome="answered" if is_help else "invalid"
        ).inc()
        return
    ctx.metrics.commands.labels(command=parsed.name, outcome="received").inc()
    if isinstance(parsed, Status):
        from bot.handlers.status import answer_status

        answer_status(call, parsed)
    elif isinstance(parsed, Rollback):
        from bot.handlers.rollback import request_rollback

        request_rollback(call, parsed)
    else:
        request_deploy(call, parsed)


def _handled_by_another_delivery(
    event: Event, ctx: HandlerContext, parsed: Command | Reply
) -> bool:
    """Whether another delivery of this very comment took it on already. A webhook's
    signature covers its body, not its delivery id, so the same comment can arrive again
    under a new one; the comment's id makes it the same command. The delivery that took it
    on goes on when retried, and its effects are keyed by its delivery id."""
    comment_id = int(event.payload["comment"]["id"])
    owner = claim_comment(
        ctx.store,
        comment_id,
        delivery_id=event.delivery_id,
        repository=str(event.repository),
        now=ctx.clock.now(),
    )
    if owner == event.delivery_id:
        return False
    log.info(
        "delivery %s: comment %s was handled by delivery %s; duplicate ignored",
        event.delivery_id,
        comment_id,
        owner,
    )
    ctx.audit.record(
        "decision",
        actor=event.sender or "unknown",
        summary=f"duplicate comment ignored: comment {comment_id} in {event.repository} "
        f"was handled by delivery {owner}",
        delivery_id=event.delivery_id,
        comment_id=comment_id,
        handled_by=owner,
    )
    command = parsed.name if isinstance(parsed, Command) else "unparsed"
    ctx.metrics.commands.labels(command=command, outcome="duplicate").inc()
    return True


class Call:
    """One command in one comment: who asked where, and how to answer them."""

    def __init__(self, event: Event, ctx: HandlerContext, services: Services, config: GitOpsConfig):
        self.event, self.ctx, self.services, self.config = event, ctx, services, config
        self.repo = str(event.repository)
        issue = event.payload.get("issue") or {}
        self.number = int(issue["number"])
        self.is_pr = bool(issue.get("pull_request"))
        self.actor = event.sender or "unknown"

    def answer(self, body: str, summary: str) -> None:
        self.services.github.upsert_comment(self.repo, self.number, self.event.delivery_id, body)
        self.audit("command", summary)

    def audit(self, kind: str, summary: str, **details: Any) -> None:
        self.ctx.audit.record(
            kind,  # type: ignore[arg-type]
            actor=self.actor,
            summary=summary,
            delivery_id=self.event.delivery_id,
            **details,
        )

    def refuse(self, command: str, reason: str, env: str | None) -> None:
        self.answer(
            refusal_comment(self.event.delivery_id, command, self.actor, reason),
            f"refused {command}: {reason}",
        )
        self.ctx.metrics.commands.labels(command=command.split()[0][1:], outcome="refused").inc()

    def app(self) -> str | None:
        app = self.services.app_for_repo(self.repo)
        if app is None:
            self.answer(
                reply_comment(
                    self.event.delivery_id,
                    f"{self.repo} is not deployed by AutoStack yet: merge its onboarding pull "
                    f"request in {self.services.gitops_repo} first.",
                ),
                "refused: app not onboarded",
            )
        return app


def request_deploy(call: Call, command: Deploy | Promote) -> None:
    app = call.app()
    if app is None:
        return
    env_name = command.env if isinstance(command, Deploy) else command.target_env
    env = call.config.environment(env_name)
    read = _read_pull(call, env, command) if call.is_pr else None
    pr = read.pull if read is not None else None
    image: str | None = None
    if isinstance(command, Promote):
        image = _promoted_image(call, app, command.source_env)
        if image is None:
            return
        tag = image.rpartition(":")[2]
        sha = tag if FULL_SHA.match(tag) else None
    else:
        sha = _target_sha(call, command, pr)
        if sha is None:
            return
    text = command_text(command)
    request = request_for(command, repo=call.repo, actor=call.actor, target_sha=sha)
    ref = command.ref if isinstance(command, Deploy) else None
    source = source_of(call.services, call.repo, sha, ref=ref, pull=pr)
    decision = authorize(request, env, _facts(call, env, read, sha, source))
    refused = isinstance(decision, Refused)
    call.audit(
        "decision",
        f"{text}: {'refused' if refused else 'allowed'}",
        app=app,
        env=env_name,
        reason=decision.reason if isinstance(decision, Refused) else None,
    )
    if isinstance(decision, Refused):
        call.refuse(text, decision.reason, env_name)
        return
    Deployer(call.ctx, call.services).request(
        NewDeployment(
            kind="promote" if isinstance(command, Promote) else "deploy",
            app=app,
            env=env_name,
            app_repo=call.repo,
            requested_by=call.actor,
            delivery_id=call.event.delivery_id,
            source_sha=sha,
            image=image,
            issue_number=call.number,
            details={"command": text},
        )
    )


def _target_sha(call: Call, command: Deploy, pr: PullInfo | None) -> str | None:
    """The app commit to deploy: the named ref, else the PR's head, else the default
    branch's head (for a command on an issue). An unknown ref is answered, and None."""
    if command.ref is None and pr is not None:
        return pr.head_sha
    ref = command.ref or call.services.repo(call.repo).default_branch
    try:
        return call.services.github.resolve_ref(call.repo, ref)
    except NotFound:
        call.answer(
            reply_comment(
                call.event.delivery_id,
                f"`{ref}` is not a branch, tag or commit of {call.repo}.",
            ),
            f"refused: unknown ref {ref}",
        )
        return None


def _read_pull(call: Call, env: Environment | None, command: Deploy | Promote) -> PullFacts:
    """The pull request, with its reviews and its head's checks when the environment's policy
    asks for them: one GitHub request. The head's checks only count for a ``/deploy`` of
    the head; another commit's checks are read on their own (``_facts``)."""
    deploys_head = isinstance(command, Deploy) and command.ref is None
    return call.services.github.pull_facts(
        call.repo,
        call.number,
        approval=bool(env and env.require_approval),
        checks=bool(env and env.require_checks and deploys_head),
    )


def _facts(
    call: Call, env: Environment | None, read: PullFacts | None, sha: str | None, source: Source
) -> Facts:
    """What authorization needs; approvals and checks are asked only where policy wants them."""
    github = call.services.github
    permission = github.permission(call.repo, call.actor)
    pr = read.pull if read is not None else None
    state: PrState | None = None
    if pr is not None:
        state = "merged" if pr.merged else ("open" if pr.state == "open" else "closed")
    wants_checks = bool(sha and env and env.require_checks)
    checks: ChecksState = "none"
    if wants_checks:
        if read is not None and read.head_checks is not None and sha == read.pull.head_sha:
            checks = read.head_checks
        else:
            checks = github.checks_state(call.repo, sha or "")
    return Facts(
        permission=permission,
        pr_state=state,
        pr_approved=bool(read and env and env.require_approval and read.approved),
        pr_from_fork=bool(pr and pr.is_fork),
        checks=checks,
        source=source,
        pr_head_sha=pr.head_sha if pr is not None else None,
        default_branch=call.services.repo(call.repo).default_branch,
    )


def _promoted_image(call: Call, app: str, source_env: str) -> str | None:
    repository, tag = deployed_image(call.services, app, source_env)
    if tag in ("", PLACEHOLDER_TAG):
        call.answer(
            reply_comment(
                call.event.delivery_id,
                f"Nothing to promote: {app} has not been deployed to {source_env}.",
            ),
            "refused: nothing to promote",
        )
        return None
    return f"{repository}:{tag}"


def _sender_is_bot(payload: dict[str, Any]) -> bool:
    sender = payload.get("sender") or {}
    return sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]")
