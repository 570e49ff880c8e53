"""Reads inside ``one_fetch`` share a single fetch; a change still starts from the newest
base; outside the block every read fetches."""

from __future__ import annotations

from collections.abc import Callable

from bot.adapters.git import GitRepo
from tests.bot.adapters.conftest import OVERLAY, Recorder, Remote

MakeRepo = Callable[..., GitRepo]


def fetches(recorder: Recorder) -> int:
    return sum(1 for argv in recorder.argvs() if "fetch" in argv)


def test_reads_in_one_block_share_one_fetch(
    make_repo: MakeRepo, remote: Remote, recorder: Recorder
) -> None:
    repo = make_repo()
    repo.read_file(OVERLAY)  # clone
    before = fetches(recorder)
    with repo.one_fetch():
        repo.read_file(OVERLAY)
        repo.list_dir("")
        repo.head()
        repo.read_file("autostack.yaml")
    assert fetches(recorder) - before == 1
    repo.read_file(OVERLAY)
    repo.head()
    assert fetches(recorder) - before == 3


def test_a_snapshot_is_consistent_but_a_change_uses_the_newest_base(
    make_repo: MakeRepo, remote: Remote, recorder: Recorder
) -> None:
    repo = make_repo()
    with repo.one_fetch():
        first = repo.head()
        newer = remote.commit({"notes.txt": "someone else\n"}, "a later commit")
        assert repo.head() == first  # the block reads one snapshot
        result = repo.commit_files({"mine.txt": b"mine\n"}, "my change")
        assert result.sha is not None
    assert remote.message("main^").strip() == "a later commit"
    assert remote.head() == result.sha != newer
