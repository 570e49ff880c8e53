"""``autostack aws setup`` from command-line values: pick the apps, build the adapters, run.

The typer command in ``bot/cli.py`` only parses options; this module turns them into a
``setup.Request`` and the two ports, so the whole command can be run without a shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.cloud import gitops_apps, setup
from bot.cloud.adapters.aws import AwsAccount, make_session
from bot.cloud.adapters.github_variables import AppVariables
from bot.cloud.desired import AppTarget, Encryption, Options, SetupInputError
from bot.settings import Settings
from generators.naming import is_app_name


@dataclass(frozen=True)
class Arguments:
    app: str | None = None
    repo: str | None = None
    gitops: Path | None = None
    branch: str | None = None
    prefix: str = "autostack"
    keep_tagged: int = 100
    untagged_days: int = 7
    encryption: str = "AES256"
    kms_key: str | None = None
    region: str | None = None
    profile: str | None = None
    dry_run: bool = False


def targets(args: Arguments) -> tuple[AppTarget, ...]:
    """The apps named on the command line, or those of the GitOps repository."""
    if args.gitops is not None:
        apps = gitops_apps.read_apps(args.gitops)
        return tuple(gitops_apps.targets(apps, only=args.app, repo=args.repo))
    if args.app is None or args.repo is None:
        raise SetupInputError(
            "name the app: --app NAME --repo OWNER/NAME, or --gitops DIR for every app of a "
            "GitOps repository"
        )
    if not is_app_name(args.app):
        raise SetupInputError(f"--app {args.app!r} is not an app name (a DNS-1123 label)")
    return (AppTarget(args.app, args.repo),)


def encryption(args: Arguments) -> Encryption:
    kind = args.encryption.upper()
    if kind not in ("AES256", "KMS"):
        raise SetupInputError(f"--encryption {args.encryption!r}: choose AES256 or KMS")
    if kind == "KMS" or args.kms_key:  # a key implies KMS
        return Encryption("KMS", args.kms_key)
    return Encryption()


def request(args: Arguments, settings: Settings) -> setup.Request:
    options = Options(
        prefix=args.prefix.strip("/"),
        keep_tagged=args.keep_tagged,
        untagged_days=args.untagged_days,
        encryption=encryption(args),
        github_url=settings.github_url,
    )
    return setup.Request(targets(args), options, dry_run=args.dry_run, branch=args.branch)


def run(args: Arguments, settings: Settings, out: setup.Out) -> int:
    """Raises ``CloudError`` or ``SetupInputError`` with the one line to show."""
    wanted = request(args, settings)
    cloud = AwsAccount(make_session(args.region, args.profile))
    variables = AppVariables.from_settings(settings)
    try:
        return setup.run(wanted, cloud, variables, out)
    finally:
        if variables is not None:
            variables.close()
