"""``.github/workflows/release.yml`` cannot run here: it is validated against GitHub's
workflow schema (as the generated build workflow is), its version check is run for real,
and the image it publishes is the one ``deploy/`` and the Helm chart deploy by default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
CHECK = Path(sys.executable).parent / "check-jsonschema"
PINNED = re.compile(r"^\s*(?:-\s+)?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return dict(YAML(typ="safe").load(WORKFLOW.read_text()))


def steps(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in workflow["jobs"]["image"]["steps"]}


def test_valid_against_githubs_workflow_schema() -> None:
    result = subprocess.run(
        [str(CHECK), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    uses = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert len(uses) == 7
    for line in uses:
        assert PINNED.match(line), f"not pinned to a full SHA with a version comment: {line}"


def test_runs_on_version_tags_with_the_least_permissions(workflow: dict[str, Any]) -> None:
    assert workflow["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["image"]["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    checkout = steps(workflow)["Check out the tagged commit"]
    assert checkout["with"]["persist-credentials"] is False


def test_multi_arch_push_with_provenance_and_sbom(workflow: dict[str, Any]) -> None:
    found = steps(workflow)
    build = found["Build and push"]["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True and build["context"] == "."
    assert build["provenance"] == "mode=max" and build["sbom"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    assert "VERSION=${{ steps.version.outputs.version }}" in build["build-args"]
    tags = found["Tags and labels"]["with"]["tags"]
    assert "type=semver,pattern={{version}}" in tags
    attest = found["Attest the build provenance"]["with"]
    assert attest["subject-digest"] == "${{ steps.build.outputs.digest }}"
    assert attest["subject-name"] == "${{ steps.version.outputs.image }}"
    assert attest["push-to-registry"] is True


def run_version_check(
    workflow: dict[str, Any], tmp_path: Path, tag: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """The version step's script, run with bash in the repository as the runner would."""
    script = steps(workflow)["Check that the tag is the version the package declares"]["run"]
    output = tmp_path / "github_output"
    output.write_text("")
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "GITHUB_REF_NAME": tag,
            "GITHUB_REPOSITORY": "AutoStack/AutoStack",
            "GITHUB_OUTPUT": str(output),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return result, values


def declared_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^version = "(.+)"$', text, re.M)
    assert found
    return found.group(1)


def test_the_version_check_step(workflow: dict[str, Any], tmp_path: Path) -> None:
    version = declared_version()
    result, values = run_version_check(workflow, tmp_path, f"v{version}")
    assert result.returncode == 0, result.stderr
    assert values == {"version": version, "image": "ghcr.io/autostack/autostack"}
    wrong, _ = run_version_check(workflow, tmp_path, "v99.0.0")
    assert wrong.returncode == 1
    assert f"tag v99.0.0 but pyproject.toml says version {version}" in wrong.stdout


def test_deploy_and_the_chart_reference_the_released_image() -> None:
    """One version everywhere: the tag a release needs is the package's version, which is
    what deploy/ and the chart deploy by default, from the image the workflow pushes."""
    version = declared_version()
    kustomization = yaml.safe_load((ROOT / "deploy" / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert (image["newName"], image["newTag"]) == ("ghcr.io/autostack/autostack", version)
    chart_dir = ROOT / "deploy" / "helm" / "autostack"
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    assert chart["appVersion"] == version
    assert values["image"]["repository"] == "ghcr.io/autostack/autostack"
