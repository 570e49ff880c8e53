"""Change sets: created/updated/unchanged/kept, diffs, and all-or-nothing writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generators import changeset
from generators.errors import GeneratorError
from generators.templating import GENERATED_MARK

OWNED = f"# {GENERATED_MARK}\nkey: new\n".encode()


def test_plan_classifies_each_file(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_bytes(b"same\n")
    (tmp_path / "owned.yaml").write_text(f"# {GENERATED_MARK}\nkey: old\n")
    (tmp_path / "taken.yaml").write_text("# mine now\nkey: old\n")
    plan = changeset.plan(
        tmp_path,
        {"same.txt": b"same\n", "owned.yaml": OWNED, "taken.yaml": OWNED, "new/f.txt": b"x\n"},
    )
    actions = {c.path: c.action for c in plan.changes}
    assert actions == {
        "same.txt": "unchanged",
        "owned.yaml": "updated",
        "taken.yaml": "kept",
        "new/f.txt": "created",
    }
    assert [c.path for c in plan.writes] == ["new/f.txt", "owned.yaml"]


def test_diff_shows_only_writes(tmp_path: Path) -> None:
    (tmp_path / "owned.yaml").write_text(f"# {GENERATED_MARK}\nkey: old\n")
    diff = changeset.plan(tmp_path, {"owned.yaml": OWNED, "n.txt": b"hello\n"}).diff()
    assert "--- /dev/null\n+++ b/n.txt" in diff
    assert "-key: old\n+key: new\n" in diff


def test_apply_writes_and_second_plan_is_empty(tmp_path: Path) -> None:
    desired = {"a/b/c.txt": b"c\n", "d.txt": b"d\n"}
    changeset.plan(tmp_path, desired).apply()
    assert (tmp_path / "a/b/c.txt").read_bytes() == b"c\n"
    assert changeset.plan(tmp_path, desired).empty


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory is needed")
    desired = {"a.txt": b"a\n", "blocker/inner.txt": b"x\n", "z.txt": b"z\n"}
    with pytest.raises(GeneratorError, match="cannot write"):
        changeset.write_atomically(tmp_path, desired)
    assert sorted(os.listdir(tmp_path)) == ["blocker"]


@pytest.mark.parametrize("bad", ["../escape.txt", "/abs.txt", "a/../../b"])
def test_refuses_paths_outside_root(tmp_path: Path, bad: str) -> None:
    with pytest.raises(GeneratorError, match=r"must stay inside the repository|is absolute"):
        changeset.plan(tmp_path, {bad: b"x"})
