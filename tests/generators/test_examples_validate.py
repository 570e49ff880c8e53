"""Every example app's generated GitOps files, checked with the real tools.

The inputs are the golden trees, which ``test_generate_golden`` proves equal to what the
generator writes today: every overlay renders with ``kubectl kustomize``, every rendered
object passes ``kubernetes-validate --strict``, every workload is hardened, and every Argo
CD object validates against its CRD schema.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.generators.generate_support import GOLDEN, example_apps
from tests.support.hardening import assert_all_hardened
from tests.support.k8s import load_documents, render_overlay, validate_argocd, validate_k8s

OVERLAYS = sorted(GOLDEN.glob("*/gitops/apps/*/overlays/*"))


@pytest.fixture(scope="module")
def rendered() -> dict[Path, list[dict[str, Any]]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(OVERLAYS, pool.map(render_overlay, OVERLAYS), strict=True))


def test_every_example_has_three_overlays() -> None:
    assert len(OVERLAYS) == 3 * len(example_apps())


def test_every_rendered_object_is_valid_kubernetes(
    rendered: dict[Path, list[dict[str, Any]]],
) -> None:
    objects = [obj for objs in rendered.values() for obj in objs]
    assert len(objects) > 5 * len(OVERLAYS)
    validate_k8s(objects)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: f"{p.parts[-5]}-{p.name}")
def test_every_workload_is_hardened(
    overlay: Path, rendered: dict[Path, list[dict[str, Any]]]
) -> None:
    assert_all_hardened(rendered[overlay])


@pytest.mark.parametrize("example", example_apps())
def test_every_argocd_object_matches_its_crd(example: str) -> None:
    files = sorted((GOLDEN / example / "gitops" / "argocd").rglob("*.yaml"))
    assert len(files) == 3
    for path in files:
        for obj in load_documents(path.read_text()):
            assert obj["kind"] == "Application"
            validate_argocd(obj)
