"""``GitRepo.export``: a temporary checkout of a ref, against a real bare remote."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.git import GitRepo
from bot.core.errors import PermanentError
from tests.bot.adapters.conftest import OVERLAY, OVERLAY_TEXT, TOKEN, Remote, git

MakeRepo = Callable[..., GitRepo]


def worktrees(repo: GitRepo) -> list[str]:
    listing = git(repo.path, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("worktree ")]


def test_export_checks_out_the_default_branch_and_removes_it_afterwards(
    make_repo: MakeRepo, remote: Remote
) -> None:
    remote.commit({"app/main.py": "print('hi')\n"}, "add the app")
    repo = make_repo()
    with repo.export() as tree:
        assert (tree / OVERLAY).read_text() == OVERLAY_TEXT
        assert (tree / "app/main.py").read_text() == "print('hi')\n"
        assert str(tree) in worktrees(repo)
    assert not tree.exists() and not tree.parent.exists()
    assert worktrees(repo) == [str(repo.path)]


def test_export_of_an_older_commit_shows_that_commit(make_repo: MakeRepo, remote: Remote) -> None:
    first = remote.head()
    remote.commit({"later.txt": "later\n"}, "add a later file")
    with make_repo().export(first) as tree:
        assert not (tree / "later.txt").exists()
        assert (tree / "autostack.yaml").is_file()


def test_export_is_a_checkout_not_an_archive(make_repo: MakeRepo, remote: Remote) -> None:
    # ``git archive`` would drop an export-ignore file and expand export-subst; a build
    # context (what the generator must judge) has the file exactly as committed.
    remote.commit(
        {".gitattributes": "Dockerfile export-ignore\nVERSION export-subst\n",
         "Dockerfile": "FROM scratch\n", "VERSION": "$Format:%H$\n"},
        "mark files for export",
    )  # fmt: skip
    with make_repo().export() as tree:
        assert (tree / "Dockerfile").read_text() == "FROM scratch\n"
        assert (tree / "VERSION").read_text() == "$Format:%H$\n"


def test_export_sees_what_was_pushed_since_the_clone(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    with repo.export() as tree:
        assert not (tree / "new.txt").exists()
    remote.commit({"new.txt": "new\n"}, "add a file")
    with repo.export() as tree:
        assert (tree / "new.txt").read_text() == "new\n"


def test_export_is_removed_when_the_reader_fails(make_repo: MakeRepo) -> None:
    repo = make_repo()
    with pytest.raises(RuntimeError, match="reader failed"), repo.export() as tree:
        raise RuntimeError("reader failed")
    assert not tree.exists()
    assert worktrees(repo) == [str(repo.path)]


def test_the_repository_is_usable_while_an_export_is_open(
    make_repo: MakeRepo, remote: Remote
) -> None:
    repo = make_repo()
    with repo.export() as tree:
        # Another thread commits while the export is open: the lock is not held meanwhile.
        done: list[str | None] = []
        worker = threading.Thread(
            target=lambda: done.append(repo.commit_files({"x.txt": b"x\n"}, "add x").sha)
        )
        worker.start()
        worker.join(timeout=30)
        assert done and done[0] == remote.head()
        assert not (tree / "x.txt").exists()  # the export stays the snapshot it was
        assert (tree / OVERLAY).read_text() == OVERLAY_TEXT


def test_export_of_an_empty_repository_is_an_empty_directory(tmp_path: Path) -> None:
    bare = tmp_path / "empty.git"
    bare.mkdir()
    git(bare, "init", "--quiet", "--bare", "--initial-branch=main")
    repo = GitRepo("acme/empty", bare.as_uri(), tmp_path / "data", lambda: TOKEN)
    with repo.export() as tree:
        assert tree.is_dir() and list(tree.iterdir()) == []
    assert not tree.exists()


def test_export_of_an_unknown_ref_is_refused(make_repo: MakeRepo) -> None:
    with (
        pytest.raises(PermanentError, match="no-such-branch"),
        make_repo().export("no-such-branch"),
    ):
        pass
