"""Every shell block of the README, run as a new user runs it: ``make demo``, the walkthrough
against ``autostack sandbox up`` and ``autostack serve`` on their documented ports, and the
``init`` and ``generate`` examples. The blocks are read from README.md itself, so a README
change that breaks a command fails here; a new block fails until a test runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.testbed import Testbed
from tests.e2e.lookout import Person, feature_pull
from tests.support.ports import documented_ports

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
BLOCK_TIMEOUT = 180.0


def shell_blocks() -> dict[str, str]:
    """The README's ``sh`` blocks, keyed by their first command."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.S | re.M)
    return {block.splitlines()[0].split("#")[0].strip(): block for block in blocks}


QUICKSTART = "make demo"
WALKTHROUGH = "autostack sandbox up &"
COMMANDS = "autostack init gitops --repo-url https://github.com/acme/gitops.git"
# Run against moto by tests/cloud/test_readme_aws.py, which needs moto's fixtures.
AWS_SETUP = "autostack aws setup --app shop --repo acme/shop --branch main --dry-run"


def test_every_shell_block_is_run_by_a_test_here() -> None:
    assert sorted(shell_blocks()) == sorted([QUICKSTART, WALKTHROUGH, COMMANDS, AWS_SETUP])


def user_environment(home: Path) -> dict[str, str]:
    """A shell with ``.venv/bin`` first on PATH and no AUTOSTACK_* setting of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSTACK_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    return env


class Shell:
    """One ``bash -e`` running a README block in ``cwd``, in a session of its own so that
    what it leaves running in the background is stopped with it."""

    def __init__(self, block: str, cwd: Path):
        self.log = cwd / "shell.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=cwd,
                env=user_environment(cwd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self) -> str:
        try:
            code = self.process.wait(BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        output = self.log.read_text(errors="replace")
        assert code == 0, f"exit status {code}:\n{output}"
        return output

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The walkthrough block run to its end; the sandbox and the bot it started in the
    background stay up until the test ends."""
    with documented_ports():
        shell = Shell(shell_blocks()[WALKTHROUGH], tmp_path)
        try:
            yield shell.wait(), tmp_path
        finally:
            shell.stop()


def test_the_walkthrough_onboards_then_deploys_on_merge_and_on_deploy_prod(
    walkthrough: tuple[str, Path],
) -> None:
    """``autostack serve`` exactly as the README starts it: the App installed through the
    sandbox opens the onboarding pull requests, a merge deploys to dev, and a maintainer's
    ``/deploy prod`` gets its answer."""
    output, cwd = walkthrough
    assert '"title":"Set up AutoStack deployments"' in output, output
    assert re.search(r"installation\.created\s+done", output), output
    assert "audit log chain intact" in output, output
    assert '"status":"ready"' in output.replace(" ", ""), output

    # Carry on through the same processes, as a team would on GitHub.
    bed = Testbed(cwd / ".autostack" / "sandbox")
    bed.attach_sandbox()
    bed.bot_url = "http://127.0.0.1:8000"
    bed.bot_process = None
    for repo in ("shop", bed.gitops_name):
        bed.user("mia", repo=repo, permission="maintain")
    bed.user("dev", repo="shop", permission="write")
    mia = Person(bed, "mia")
    try:
        for repo in ("shop", bed.gitops_name):
            [onboarding] = mia.pulls(repo, "open")
            bed.merge(repo, onboarding["number"], user="mia")
        sha = bed.push("shop", {"VERSION": "2\n"}, "Bump the version", user="mia")
        bed.build("shop", sha, branch="main")
        bed.wait_for(
            "the dev deployment to reach success",
            lambda: deployment_state(mia, "dev", sha) == "success",
            timeout=60,
        )

        number, head = feature_pull(bed, "feature", {"feature.txt": "new\n"})
        bed.approve("shop", number, user="mia")
        mia.set_status("shop", head, "success")
        bed.comment("shop", number, "/deploy prod", user="mia")
        [gitops_pull] = bed.wait_for(
            "the prod GitOps pull request", lambda: mia.pulls(bed.gitops_name, "open")
        )
        [answer] = bed.wait_for("the answer to /deploy prod", lambda: mia.answers("shop", number))
        assert gitops_pull["html_url"] in answer, answer
        handled = 'autostack_deliveries_processed_total{event="issue_comment",outcome="done"}'
        bed.wait_for(
            "the comment's delivery to be done",
            lambda: handled in httpx.get("http://127.0.0.1:8000/metrics").text,
        )
    finally:
        mia.close()
        bed.stop()


def deployment_state(person: Person, env: str, sha: str) -> str | None:
    ours = [d for d in person.get("shop/deployments", environment=env) if d["sha"] == sha]
    if not ours:
        return None
    statuses = person.get(f"shop/deployments/{ours[0]['id']}/statuses")
    return str(statuses[0]["state"]) if statuses else None


def test_the_init_and_generate_examples(tmp_path: Path) -> None:
    output = Shell(shell_blocks()[COMMANDS], tmp_path).wait()
    assert "Initialised GitOps repository gitops" in output
    assert (tmp_path / "shop" / "Dockerfile").is_file()
    assert (tmp_path / "shop" / ".github" / "workflows" / "autostack-build.yml").is_file()
    for env in ("dev", "staging", "prod"):
        assert (tmp_path / "gitops" / "apps" / "shop" / "overlays" / env).is_dir()
        assert (tmp_path / "gitops" / "argocd" / "apps" / f"shop-{env}.yaml").is_file()
    # The dry run printed a diff and wrote nothing, the first run wrote everything, the
    # second found nothing to change. Each run starts with what it detected.
    dry_run, first, second = output.split("App shop: python")[1:]
    assert "+++ b/Dockerfile" in dry_run and "created  gitops: apps/shop/base/" in first
    assert "Nothing to change: everything is up to date." in second, output


def test_the_quickstart_is_what_ci_runs_and_make_demo_plays_the_story() -> None:
    commands = [
        line.split("#")[0].strip()
        for line in shell_blocks()[QUICKSTART].splitlines()
        if line.split("#")[0].strip()
    ]
    assert commands == ["make demo", "make test"]
    # make test is this very run: CI runs it, through .ci/run, and nothing less.
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ci
    result = subprocess.run(
        ["make", "demo"],
        cwd=ROOT,
        env=user_environment(Path.home()),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert re.search(r"pid \d+: autostack sandbox up --data ", text), text
    assert re.search(r"AUTOSTACK_DATA_DIR=\S+ .*autostack serve --port \d+", text), text
    for expected in (
        "detected python",
        "dev runs ghcr.io/acme/hello:",
        "| prod |",
        "Refused: @rita, you have read on acme/hello; deploying to prod needs maintain.",
        "ModuleNotFoundError: No module named 'settings'",
        "auto_rollback reverted the GitOps commit",
        "Rollback-Of=",
        "Done: every step happened as described.",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"
