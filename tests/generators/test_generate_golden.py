"""Golden trees: every example app's generated files, reviewed as diffs.

Regenerate with ``make golden`` (``pytest --update-golden``) and review ``git diff``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generators import changeset
from tests.generators.generate_support import (
    GOLDEN,
    example_apps,
    output_tree,
    run_generate,
    workspace,
)


@pytest.mark.parametrize("example", example_apps())
def test_golden_tree(example: str, tmp_path: Path, update_golden: bool) -> None:
    app_dir, gitops = workspace(tmp_path, example)
    result = run_generate(app_dir, gitops, name=example)
    tree = output_tree(result)
    golden = GOLDEN / example
    if update_golden:
        shutil.rmtree(golden, ignore_errors=True)
        changeset.write_atomically(golden, tree)
    expected = {
        str(p.relative_to(golden)): p.read_bytes() for p in golden.rglob("*") if p.is_file()
    }
    assert sorted(tree) == sorted(expected), "file list differs; run make golden and review"
    for rel, content in tree.items():
        assert content.decode() == expected[rel].decode(), f"{rel} differs from its golden copy"


@pytest.mark.parametrize("example", example_apps())
def test_second_run_changes_nothing(example: str, tmp_path: Path) -> None:
    app_dir, gitops = workspace(tmp_path, example)
    first = run_generate(app_dir, gitops, name=example)
    assert not first.empty
    second = run_generate(app_dir, gitops, name=example)
    assert second.empty, second.diff()
