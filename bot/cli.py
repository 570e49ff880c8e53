"""The ``autostack`` command: set up GitOps repositories, generate apps, run the bot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer

from generators.errors import GeneratorError

app = typer.Typer(
    name="autostack",
    help="Deploy apps from GitHub to Kubernetes through GitOps and Argo CD.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
) -> None:
    """Create a GitOps repository: autostack.yaml, Argo CD root app and projects, README."""
    from generators import initrepo

    try:
        outcome = initrepo.init_repository(directory, repo_url=repo_url, force=force)
    except GeneratorError as exc:
        fail(str(exc))
    typer.echo(outcome)


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


@app.command()
def demo(
    keep: bool = typer.Option(False, help="Keep the demo's files and print where they are."),
) -> None:
    """Run the demo on embedded defaults and print what happened."""
    from sandbox import demo as demo_module

    raise typer.Exit(demo_module.run(keep=keep, out=typer.echo))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
