"""The ``autostack`` command: set up GitOps repositories, generate apps, run the bot."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from generators.errors import GeneratorError

if TYPE_CHECKING:
    from bot.settings import Settings

app = typer.Typer(
    name="autostack",
    help="Deploy apps from GitHub to Kubernetes through GitOps and Argo CD.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"autostack {version('autostack')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            fail("the autostack distribution is not installed (pip install -e .)")
        raise typer.Exit(0)


@app.callback()
def _main(
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the installed version and exit.",
    ),
) -> None:
    """Deploy apps from GitHub to Kubernetes through GitOps and Argo CD."""


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: how every user error ends."""
    typer.echo(f"autostack: error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Where to create the GitOps repository."),
    repo_url: str | None = typer.Option(
        None, help="URL Argo CD clones this repository from (default: its git origin)."
    ),
    force: bool = typer.Option(False, help="Initialise a directory that is not empty."),
    with_autostack: bool = typer.Option(
        False, "--with-autostack", help="Add AutoStack itself as an app, deployed by Argo CD."
    ),
) -> None:
    """Create a GitOps repository: autostack.yaml, Argo CD root app and projects, README."""
    from generators import initrepo

    try:
        outcome = initrepo.init_repository(directory, repo_url=repo_url, force=force)
    except GeneratorError as exc:
        fail(str(exc))
    typer.echo(outcome)
    if with_autostack:
        from generators import selfapp

        try:
            typer.echo(selfapp.add_autostack(directory))
        except GeneratorError as exc:
            fail(str(exc))


@app.command()
def generate(
    app_dir: Path = typer.Argument(..., help="The app's source directory (its repository)."),
    gitops: Path = typer.Option(..., "--gitops", help="The GitOps repository directory."),
    name: str | None = typer.Option(None, help="App name (default: the directory's name)."),
    path: str | None = typer.Option(None, help="Source subdirectory, for monorepos."),
    registry: str | None = typer.Option(
        None, help="Image registry, e.g. ghcr.io/OWNER or an ECR registry host."
    ),
    source_repo: str | None = typer.Option(None, help="The app's GitHub repo as OWNER/NAME."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff; write nothing."),
) -> None:
    """Detect the app's stack and write its Dockerfile, build workflow and GitOps files."""
    from generators import cli_generate

    try:
        code = cli_generate.run(
            app_dir,
            gitops,
            name=name,
            path=path,
            registry=registry,
            source_repo=source_repo,
            dry_run=dry_run,
            out=typer.echo,
        )
    except GeneratorError as exc:
        fail(str(exc))
    raise typer.Exit(code)


def _settings(database_url: str | None, data_dir: Path | None) -> Settings:
    """Settings from the environment, with the command line's overrides on top."""
    from pydantic import ValidationError

    from bot.settings import Settings

    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if data_dir:
        overrides["data_dir"] = data_dir
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # validated by pydantic
    except ValidationError as exc:
        problems = "; ".join(
            f"AUTOSTACK_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        fail(f"invalid configuration: {problems}")


DATABASE_URL = typer.Option(None, help="Overrides AUTOSTACK_DATABASE_URL.")


class Output(StrEnum):
    text = "text"
    json = "json"


OUTPUT = typer.Option(
    Output.text, "--output", "-o", case_sensitive=False, help="text for people, json for scripts."
)
DATA_DIR = typer.Option(None, help="Overrides AUTOSTACK_DATA_DIR.")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    database_url: str | None = DATABASE_URL,
    data_dir: Path | None = DATA_DIR,
    setup: bool = typer.Option(
        True, "--setup/--no-setup", help="Without App credentials, serve /setup to register one."
    ),
) -> None:
    """Serve the GitHub App: webhooks, health, readiness and metrics."""
    from bot import commands_cli

    settings = _settings(database_url, data_dir)
    raise typer.Exit(commands_cli.serve(settings, host, port, setup=setup))


@app.command()
def deliveries(
    action: str | None = typer.Argument(None, help="'retry' to retry a delivery."),
    delivery_id: str | None = typer.Argument(None, help="The delivery to retry."),
    failed: bool = typer.Option(False, "--failed", help="Only failed and dead deliveries."),
    output: Output = OUTPUT,
    database_url: str | None = DATABASE_URL,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """List stored webhook deliveries, or `retry ID` one of them."""
    from bot import commands_cli

    settings = _settings(database_url, data_dir)
    if action is None:
        raise typer.Exit(commands_cli.deliveries(settings, failed, output.value))
    if action != "retry" or not delivery_id:
        fail("usage: autostack deliveries [--failed] | autostack deliveries retry ID")
    raise typer.Exit(commands_cli.retry_delivery(settings, delivery_id))


@app.command()
def audit(
    app_name: str | None = typer.Option(None, "--app", help="Only this app."),
    env: str | None = typer.Option(None, help="Only this environment."),
    verify: bool = typer.Option(False, "--verify", help="Check the hash chain."),
    output: Output = OUTPUT,
    database_url: str | None = DATABASE_URL,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Show the audit log of commands, decisions and actions; --verify checks its chain."""
    from bot import commands_cli

    settings = _settings(database_url, data_dir)
    raise typer.Exit(commands_cli.audit(settings, app_name, env, verify, output.value))


@app.command()
def doctor(
    database_url: str | None = DATABASE_URL,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Check the configuration end to end: the GitHub App and its installation on the GitOps
    repository, the webhook secret, Argo CD, the database and kubectl; exit 1 on a problem."""
    from bot import doctor as doctor_module

    settings = _settings(database_url, data_dir)
    raise typer.Exit(doctor_module.run(settings, out=typer.echo))


sandbox_app = typer.Typer(help="Local GitHub-compatible and Argo CD-compatible servers.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("up")
def sandbox_up(
    data: Path = typer.Option(Path(".autostack/sandbox"), help="Where the sandbox keeps state."),
    github_port: int = typer.Option(8470, help="GitHub port (0: any free one)."),
    argocd_port: int = typer.Option(8471, help="Argo CD port (0: any free one)."),
    webhook_url: str = typer.Option(
        "http://127.0.0.1:8000/webhooks/github", help="Where the sandbox GitHub sends webhooks."
    ),
) -> None:
    """Start the sandbox GitHub and Argo CD on loopback; write the bot's settings to
    DATA/autostack.env."""
    from sandbox import cli as sandbox_cli

    raise typer.Exit(
        sandbox_cli.up(
            data,
            github_port=github_port,
            argocd_port=argocd_port,
            webhook_url=webhook_url,
            out=typer.echo,
        )
    )


aws_app = typer.Typer(help="Prepare AWS for the apps: ECR repositories and GitHub OIDC roles.")
app.add_typer(aws_app, name="aws")


@aws_app.command("setup")
def aws_setup(
    app_name: str | None = typer.Option(None, "--app", help="The app (with --repo)."),
    repo: str | None = typer.Option(
        None, "--repo", help="The app's GitHub repository, OWNER/NAME, that builds its image."
    ),
    gitops: Path | None = typer.Option(
        None, "--gitops", help="Every app of this GitOps repository checkout (or --app of it)."
    ),
    branch: str | None = typer.Option(
        None, help="The branch whose builds may push (default: the repository's default branch)."
    ),
    prefix: str = typer.Option("autostack", help="ECR repositories are named PREFIX/APP."),
    keep_tagged: int = typer.Option(100, help="Lifecycle: keep this many tagged images."),
    untagged_days: int = typer.Option(7, help="Lifecycle: expire untagged images after DAYS."),
    encryption: str = typer.Option("AES256", help="Encryption of new repositories: AES256 or KMS."),
    kms_key: str | None = typer.Option(None, help="KMS key id or ARN (implies --encryption KMS)."),
    region: str | None = typer.Option(None, help="AWS region (default: AWS_REGION, the profile)."),
    profile: str | None = typer.Option(None, help="AWS profile (default: AWS_PROFILE)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
) -> None:
    """Create or fix the ECR repository, GitHub OIDC provider and push role of each app, and
    set AUTOSTACK_AWS_ROLE_ARN on its repository. Idempotent; exit 1 if a problem is left."""
    from bot.cloud import command
    from bot.cloud.desired import SetupInputError
    from bot.cloud.explain import CloudError

    args = command.Arguments(
        app=app_name,
        repo=repo,
        gitops=gitops,
        branch=branch,
        prefix=prefix,
        keep_tagged=keep_tagged,
        untagged_days=untagged_days,
        encryption=encryption,
        kms_key=kms_key,
        region=region,
        profile=profile,
        dry_run=dry_run,
    )
    try:
        code = command.run(args, _settings(None, None), typer.echo)
    except (CloudError, SetupInputError) as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def demo(
    keep: bool = typer.Option(False, help="Keep the demo's files and print where they are."),
) -> None:
    """Run the demo on embedded defaults and print what happened."""
    from sandbox import demo as demo_module

    raise typer.Exit(demo_module.run(keep=keep, out=typer.echo))


_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _explicit_completion_shell(argv: list[str]) -> bool:
    """Whether ``--show-completion``/``--install-completion`` is followed by a shell name."""
    for flag in ("--show-completion", "--install-completion"):
        if flag in argv:
            following = argv[argv.index(flag) + 1 : argv.index(flag) + 2]
            return following != [] and following[0] in _SHELLS
    return False


def main() -> None:
    # typer detects the shell from the parent process, which is wrong when a script or
    # `make` generates the completion for another shell; typer's switch for taking the
    # shell from the command line instead is this variable, set only when one is named.
    if _explicit_completion_shell(sys.argv[1:]):
        os.environ["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
