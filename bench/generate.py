"""Benchmark: generate a GitOps repository of many apps and render its overlays.

    python bench/generate.py [--apps 1000] [--render all|N]

Prints, for one run on this machine:
- wall time and peak RSS of generating N apps x 3 environments from a mix of the
  example apps (tests/fixtures/apps), written to disk as ``autostack generate`` does;
- the time ``kubectl kustomize`` takes to render the same overlays (2 in parallel);
- regenerating one app in the N-app repo against doing it in a 10-app repo (medians of
  several runs), whose ratio should stay near 1: generation must not scan the repo.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators import initrepo  # noqa: E402
from generators.pipeline import GenerateRequest, generate  # noqa: E402

APPS = ROOT / "tests" / "fixtures" / "apps"


def examples() -> list[Path]:
    found = sorted(p for p in APPS.iterdir() if p.is_dir())
    # Apps that bring their own Dockerfile are the same work as the others; keep them all.
    return found


def make_repo(workdir: Path, count: int, sources: list[Path]) -> tuple[Path, float]:
    gitops = workdir / "gitops"
    initrepo.init_repository(gitops, repo_url="https://github.com/acme/gitops.git")
    start = time.perf_counter()
    for i in range(count):
        regenerate(sources[i % len(sources)], gitops, f"app-{i:04d}")
    return gitops, time.perf_counter() - start


def regenerate(source: Path, gitops: Path, name: str) -> None:
    result = generate(
        GenerateRequest(app_dir=source, gitops_dir=gitops, registry="ghcr.io/acme", name=name)
    )
    result.gitops_changes.apply()  # the example apps themselves stay untouched


def render_all(overlays: list[Path]) -> float:
    def render(path: Path) -> None:
        subprocess.run(["kubectl", "kustomize", str(path)], check=True, capture_output=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(render, overlays))
    return time.perf_counter() - start


def regen_medians(source: Path, repos: list[Path], name: str, runs: int = 41) -> list[float]:
    """Median time to regenerate ``name`` in each repo, runs interleaved so that drift in
    the machine's load affects every repo alike."""
    times: list[list[float]] = [[] for _ in repos]
    for _ in range(runs):
        for i, gitops in enumerate(repos):
            start = time.perf_counter()
            regenerate(source, gitops, name)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--render", default="all", help="'all' or how many overlays to render")
    args = parser.parse_args()
    sources = examples()
    workdir = Path(tempfile.mkdtemp(prefix="autostack-bench-"))
    try:
        gitops, gen_seconds = make_repo(workdir, args.apps, sources)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        overlays = sorted(gitops.glob("apps/*/overlays/*"))
        print(f"examples mixed: {len(sources)}")
        print(
            f"generate: {args.apps} apps, {len(overlays)} overlays in {gen_seconds:.2f} s "
            f"({gen_seconds / args.apps * 1000:.2f} ms/app), peak RSS {peak_mb:.0f} MB"
        )
        sample = overlays if args.render == "all" else overlays[: int(args.render)]
        render_seconds = render_all(sample)
        print(
            f"kubectl kustomize: {len(sample)} overlays in {render_seconds:.2f} s "
            f"({render_seconds / len(sample) * 1000:.1f} ms/overlay, 2 in parallel)"
        )
        small, _ = make_repo(workdir / "small", 10, sources)
        probe = sources[0]
        big_t, small_t = regen_medians(probe, [gitops, small], "app-0000")
        print(
            f"regenerate one app: {big_t * 1000:.2f} ms in a {args.apps}-app repo, "
            f"{small_t * 1000:.2f} ms in a 10-app repo, ratio {big_t / small_t:.2f}"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
