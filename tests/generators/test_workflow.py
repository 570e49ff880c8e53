"""The generated build workflow is a valid GitHub Actions workflow for GHCR and ECR."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generators.errors import GeneratorError
from generators.workflow import build_workflow, image_repository

CHECK = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> None:
    result = subprocess.run(
        [str(CHECK), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("image", "context", "login"),
    [
        ("ghcr.io/acme/shop", ".", "docker/login-action@v3"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop", "svc/api", "amazon-ecr-login@v2"),
    ],
)
def test_workflow_is_schema_valid(tmp_path: Path, image: str, context: str, login: str) -> None:
    text = build_workflow(image, context=context, default_branch="trunk")
    path = tmp_path / "autostack-build.yml"
    path.write_text(text)
    _validate(path)
    data = YAML(typ="safe").load(text)
    assert data["name"] == "AutoStack build"
    assert data["on"]["push"]["branches"] == ["trunk"]
    assert "pull_request" in data["on"]
    steps = data["jobs"]["build"]["steps"]
    assert any(login in step.get("uses", "") for step in steps)
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["context"] == context
    assert build["with"]["tags"] == "${{ env.IMAGE }}:${{ env.SHA }}"
    assert data["jobs"]["build"]["env"]["IMAGE"] == image
    assert "head.sha" in data["jobs"]["build"]["env"]["SHA"]


def test_ecr_uses_oidc_not_keys() -> None:
    text = build_workflow("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop")
    data = YAML(typ="safe").load(text)
    assert data["permissions"] == {"contents": "read", "id-token": "write"}
    assert "AWS_SECRET_ACCESS_KEY" not in text


def test_image_repository() -> None:
    assert image_repository("GHCR.io/Acme/", "shop") == "ghcr.io/acme/shop"
    with pytest.raises(GeneratorError, match="is not a registry"):
        image_repository("not a registry", "shop")
    with pytest.raises(GeneratorError, match="is not a registry"):
        image_repository("acme", "shop")
