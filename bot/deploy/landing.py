"""Landing a deployment on the GitOps repository: the image bump or the revert, as a direct
commit, a pull request, or a pull request merged at once, per the environment's policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.adapters.git import CommitResult, Reader
from bot.core.errors import UserError
from bot.deploy.records import Deployment
from bot.services import Services
from generators.config import Environment, overlay_dir
from generators.errors import GeneratorError
from generators.overlay import OVERLAY_FILE, get_image, set_image

Change = Callable[[str | None, str], CommitResult]  # (pr branch or None, base) -> result


@dataclass(frozen=True)
class Landed:
    gitops_sha: str | None  # on the default branch; None while a pull request awaits merge
    pr_number: int | None = None
    change_url: str | None = None
    changed: bool = True  # False: the overlay already held the image


def overlay_file(app: str, env: str) -> str:
    return f"{overlay_dir(app, env)}/{OVERLAY_FILE}"


def deployed_image(services: Services, app: str, env: str) -> tuple[str, str]:
    """``(repository, tag)`` of the image the overlay holds on the default branch."""
    path = overlay_file(app, env)
    text = services.gitops().read_file(path)
    if text is None:
        raise UserError(f"{services.gitops_repo} has no {path}: is {app} onboarded?")
    try:
        found = get_image(text.decode("utf-8"), app, path)
    except GeneratorError as exc:
        raise UserError(str(exc)) from exc
    if found is None:
        raise UserError(f"{path} has no `images:` entry named {app}")
    return found


def land_image(
    services: Services, env: Environment, deployment: Deployment, image: str, message: str
) -> Landed:
    path = overlay_file(deployment.app, deployment.env)
    name, _, tag = image.rpartition(":")

    def bump(read: Reader) -> dict[str, bytes | None]:
        current = read(path)
        if current is None:
            raise UserError(f"{services.gitops_repo} has no {path}: is {deployment.app} onboarded?")
        try:
            edited = set_image(current.decode("utf-8"), deployment.app, name, tag, path)
        except GeneratorError as exc:
            raise UserError(str(exc)) from exc
        return {} if edited.encode() == current else {path: edited.encode()}

    gitops = services.gitops()
    return _land(
        services,
        env,
        deployment,
        message,
        lambda branch, base: gitops.commit_files(None, message, branch, base, edit=bump),
    )


def land_revert(
    services: Services, env: Environment, deployment: Deployment, shas: list[str], message: str
) -> Landed:
    gitops = services.gitops()
    return _land(
        services,
        env,
        deployment,
        message,
        lambda branch, base: gitops.revert(shas, message, branch, base),
    )


def landing_for(env: Environment, deployment: Deployment) -> str:
    """The environment's landing policy, except that an automatic rollback never waits for
    a person to merge it: restoring the last good state is what ``auto_rollback`` asks for,
    and the revert still goes through a pull request, merged at once, for the record."""
    if deployment.details.get("automatic") and env.landing == "pr":
        return "auto-merge"
    return env.landing


def pr_branch(deployment: Deployment) -> str:
    """One pull request branch per app and environment: a newer deployment updates it."""
    return f"autostack/{deployment.app}-{deployment.env}"


def _land(
    services: Services, env: Environment, deployment: Deployment, message: str, change: Change
) -> Landed:
    gitops = services.gitops()
    # From the repository's API description, which Services keeps: the clone's
    # ``default_branch`` property would fetch just to tell the same name.
    info = services.repo(services.gitops_repo)
    base, html = info.default_branch, info.html_url
    landing = landing_for(env, deployment)
    if landing == "direct":
        result = change(None, base)
        sha = result.sha or gitops.head()
        return Landed(sha, change_url=f"{html}/commit/{sha}", changed=result.sha is not None)
    result = change(pr_branch(deployment), base)
    if result.sha is None:
        head = gitops.head()
        return Landed(head, change_url=f"{html}/commit/{head}", changed=False)
    subject, _, body = message.partition("\n")
    pr = services.github.open_or_update_pr(
        services.gitops_repo,
        head=result.branch,
        base=base,
        title=subject,
        body=_pr_body(deployment, body),
    )
    if landing == "pr":
        return Landed(None, pr.number, pr.html_url)
    merged = services.github.merge_pr(services.gitops_repo, pr.number, "merge", sha=result.sha)
    return Landed(merged, pr.number, pr.html_url)


def _pr_body(deployment: Deployment, message_body: str) -> str:
    origin = (
        f"{deployment.app_repo}#{deployment.issue_number}"
        if deployment.issue_number
        else (deployment.app_repo)
    )
    return (
        f"`{deployment.command}` by @{deployment.requested_by} in {origin} "
        f"(deployment {deployment.label}).\n\n"
        "Merging this pull request deploys it; Argo CD then syncs the change.\n"
        f"\n<details><summary>Commit message</summary>\n\n```\n{message_body.strip()}\n```\n"
        "</details>\n"
    )
