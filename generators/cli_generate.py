"""``autostack generate`` as the user sees it: defaults, the detection report, the result."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from generators import tools
from generators.errors import GeneratorError
from generators.pipeline import GenerateRequest, GenerateResult, generate

GITHUB_REMOTE = re.compile(r"github\.com[:/]([^/\s]+)/([^/\s]+?)(?:\.git)?/?$")


def run(
    app_dir: Path,
    gitops_dir: Path,
    *,
    name: str | None,
    path: str | None,
    registry: str | None,
    source_repo: str | None,
    dry_run: bool,
    out: Callable[[str], None],
) -> int:
    if not app_dir.is_dir():
        raise GeneratorError(app_dir, "is not a directory" if app_dir.exists() else "not found")
    source_repo = source_repo or _origin_repo(app_dir)
    if source_repo is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", source_repo):
        raise GeneratorError("--source-repo", f"{source_repo!r} is not OWNER/NAME")
    if registry is None:
        if source_repo is None:
            raise GeneratorError(
                "--registry",
                "is required when the app has no GitHub origin",
                hint="e.g. --registry ghcr.io/OWNER",
            )
        registry = f"ghcr.io/{source_repo.split('/')[0]}"
    result = generate(
        GenerateRequest(
            app_dir=app_dir,
            gitops_dir=gitops_dir,
            registry=registry,
            name=name,
            path=path,
            source_repo=source_repo,
        )
    )
    report(result, out)
    if dry_run:
        diff = result.diff()
        out(diff.rstrip("\n") if diff else "No changes.")
        return 0
    result.apply()
    summarize(result, out)
    return 0


def report(result: GenerateResult, out: Callable[[str], None]) -> None:
    stack = result.stack
    out(f"App {result.spec.name}: {stack.describe()}")
    for reason in stack.evidence:
        out(f"  - {reason}")
    out(f"  start: {' '.join(stack.start_command)}")
    out(f"  health: {stack.health_path or f'TCP :{stack.port}'}")
    if stack.migrate_command:
        out(f"  migrations (Argo CD PreSync job): {' '.join(stack.migrate_command)}")
    out(f"  image: {result.spec.image}:<commit sha>")


def summarize(result: GenerateResult, out: Callable[[str], None]) -> None:
    if result.empty:
        out("Nothing to change: everything is up to date.")
        return
    for label, changes in (("app", result.app_changes), ("gitops", result.gitops_changes)):
        for change in changes.changes:
            if change.action != "unchanged":
                out(f"  {change.action:<8} {label}: {change.path}")


def _origin_repo(app_dir: Path) -> str | None:
    url = tools.git_origin_url(app_dir)
    match = GITHUB_REMOTE.search(url or "")
    return f"{match.group(1)}/{match.group(2)}" if match else None
