"""``autostack demo``: the generator end to end on a bundled app, in a temporary folder.

It makes a GitOps repository with ``autostack init``, generates the bundled web app into
it, prints what was made, and renders the app's dev overlay with ``kubectl kustomize``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from generators import initrepo, tools
from generators.cli_generate import run as generate
from generators.errors import GeneratorError

DEMO_APP = Path(__file__).resolve().parent / "demo_app"


def run(*, keep: bool, out: Callable[[str], None]) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="autostack-demo-"))
    try:
        return _run(workdir, out)
    except GeneratorError as exc:
        out(f"demo failed: {exc}")
        return 1
    finally:
        if keep:
            out(f"\nThe demo's files are in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, out: Callable[[str], None]) -> int:
    app_dir = workdir / "hello"
    shutil.copytree(DEMO_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    gitops = workdir / "gitops"
    out("== autostack init gitops")
    out(initrepo.init_repository(gitops, repo_url="https://github.com/acme/gitops.git"))
    out("\n== autostack generate hello --gitops gitops --registry ghcr.io/acme")
    generate(
        app_dir,
        gitops,
        name=None,
        path=None,
        registry="ghcr.io/acme",
        source_repo="acme/hello",
        dry_run=False,
        out=out,
    )
    tools.git_commit_all(gitops, "Add hello")
    overlay = gitops / "apps" / "hello" / "overlays" / "dev"
    rendered = tools.kustomize_build(overlay)
    kinds = [
        line.split(":", 1)[1].strip() for line in rendered.splitlines() if line.startswith("kind:")
    ]
    out(f"\n== kubectl kustomize {overlay.relative_to(workdir)}: {len(kinds)} objects")
    out(rendered.rstrip("\n"))
    out("\nRendered: " + ", ".join(kinds))
    return 0
