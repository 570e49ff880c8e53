"""The git adapter against real bare remotes: landing, races, reverts, history, crash
recovery and locking."""

from __future__ import annotations

import fcntl
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.git import GitRepo, Identity, Reader
from bot.core import trailers
from bot.core.errors import PermanentError, TransientError, UserError
from generators.overlay import get_image, set_image
from tests.bot.adapters.conftest import (
    OVERLAY,
    OVERLAY_TEXT,
    STAGING,
    TOKEN,
    Recorder,
    Remote,
    git,
)

MakeRepo = Callable[..., GitRepo]


def deploy_edit(tag: str) -> Callable[[Reader], dict[str, bytes | None]]:
    """The image bump as a handler would write it: recomputed from the fresh base."""

    def edit(read: Reader) -> dict[str, bytes | None]:
        text = (read(OVERLAY) or b"").decode()
        return {OVERLAY: set_image(text, "web", "ghcr.io/acme/web", tag).encode()}

    return edit


def deploy_message(tag: str, delivery: str = "d-1") -> str:
    return trailers.deploy_message(
        app="web",
        env="prod",
        image=f"ghcr.io/acme/web:{tag}",
        source_repo="acme/web",
        source_sha="a" * 40,
        requested_by="octocat",
        delivery=delivery,
    )


def deploy(repo: GitRepo, tag: str, delivery: str = "d-1", branch: str | None = None) -> str:
    message = deploy_message(tag, delivery)
    result = repo.commit_files(None, message, branch, edit=deploy_edit(tag))
    assert result.sha is not None
    return result.sha


def tag_on(remote: Remote, rev: str = "main") -> str | None:
    found = get_image(remote.show(OVERLAY, rev), "web")
    return found[1] if found else None


# -- landing -------------------------------------------------------------------------------


def test_direct_commit_lands_on_the_default_branch(make_repo: MakeRepo, remote: Remote) -> None:
    before = remote.head()
    repo = make_repo()
    result = repo.commit_files(None, deploy_message("v2"), edit=deploy_edit("v2"))
    assert result.sha == remote.head() and result.pushed and result.branch == "main"
    assert git(remote.bare, "rev-parse", f"{result.sha}^").strip() == before
    assert tag_on(remote) == "v2"
    # Only the tag changed; the comment on that line and the rest of the file stay.
    assert remote.show(OVERLAY) == OVERLAY_TEXT.replace("not-deployed", "v2")
    author = git(remote.bare, "log", "-1", "--format=%an <%ae>|%cn", "main").strip()
    assert author == "AutoStack <autostack[bot]@users.noreply.github.com>|AutoStack"
    assert trailers.parse_trailers(remote.message("main"))[trailers.IMAGE] == [
        "ghcr.io/acme/web:v2"
    ]


def test_identity_is_configurable(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo(identity=Identity("Deploy Bot", "42+deploy[bot]@users.noreply.github.com"))
    repo.commit_files({"notes.txt": b"hello\n"}, "add notes")
    author = git(remote.bare, "log", "-1", "--format=%an <%ae>", "main").strip()
    assert author == "Deploy Bot <42+deploy[bot]@users.noreply.github.com>"


def test_files_can_be_added_and_deleted(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    result = repo.commit_files({"argocd/web-prod.yaml": b"kind: Application\n", STAGING: None}, "m")
    assert result.sha == remote.head()
    changed = git(remote.bare, "show", "--name-status", "--format=", "main").split("\n")
    assert sorted(filter(None, changed)) == ["A\targocd/web-prod.yaml", f"D\t{STAGING}"]


def test_empty_change_commits_nothing_and_makes_no_branch(
    make_repo: MakeRepo, remote: Remote, recorder: Recorder
) -> None:
    before = remote.head()
    repo = make_repo()
    same = {OVERLAY: OVERLAY_TEXT.encode()}
    assert repo.commit_files(same, "no-op").sha is None
    result = repo.commit_files(same, "no-op", branch="autostack/web-prod")
    assert result.sha is None and not result.pushed
    assert remote.head() == before
    assert remote.branches() == ["main"]
    assert recorder.pushes() == []


def test_pr_branch_is_updated_not_stacked(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    branch = "autostack/web-prod"
    first = repo.commit_files(None, deploy_message("v2"), branch, edit=deploy_edit("v2"))
    assert first.pushed and first.branch == branch and first.sha == remote.head(branch)
    assert git(remote.bare, "rev-parse", f"{branch}^").strip() == remote.head()
    assert tag_on(remote) == "not-deployed"  # main is untouched until the PR merges

    again = repo.commit_files(None, deploy_message("v2"), branch, edit=deploy_edit("v2"))
    assert again.sha == first.sha and not again.pushed  # nothing new to push

    moved = remote.commit({"autostack.yaml": "environments: [dev, prod]\n"}, "edit config")
    third = repo.commit_files(None, deploy_message("v3"), branch, edit=deploy_edit("v3"))
    assert third.pushed and third.sha == remote.head(branch)
    assert git(remote.bare, "rev-parse", f"{branch}^").strip() == moved
    assert git(remote.bare, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert tag_on(remote, branch) == "v3"


def test_the_default_branch_is_never_force_pushed(
    make_repo: MakeRepo, remote: Remote, recorder: Recorder
) -> None:
    repo = make_repo()
    deploy(repo, "v2")
    deploy(repo, "v3", branch="autostack/web-prod")
    pushes = recorder.pushes()
    to_main = [argv for argv in pushes if argv[-1].endswith(":refs/heads/main")]
    to_branch = [argv for argv in pushes if argv[-1].endswith(":refs/heads/autostack/web-prod")]
    assert to_main and to_branch
    assert not any(arg.startswith(("--force", "-f", "+")) for argv in to_main for arg in argv[2:])
    assert any(arg.startswith("--force-with-lease=") for arg in to_branch[0])
    with pytest.raises(PermanentError, match="force-push the default branch"):
        repo.commit_files({"x": b"y"}, "m", branch="main", base="autostack/web-prod")


def test_lost_push_race_reapplies_the_edit_on_the_new_base(
    make_repo: MakeRepo, remote: Remote, sleeps: list[float]
) -> None:
    repo = make_repo()
    calls: list[str] = []

    def edit(read: Reader) -> dict[str, bytes | None]:
        calls.append((read(OVERLAY) or b"").decode())
        if len(calls) == 1:  # someone else lands first, between our fetch and our push
            remote.commit({OVERLAY: "# reviewed by Pat\n" + OVERLAY_TEXT}, "annotate overlay")
        return deploy_edit("v2")(read)

    result = repo.commit_files(None, deploy_message("v2"), edit=edit)
    assert result.attempts == 2 and result.sha == remote.head() and len(sleeps) == 1
    assert calls[1].startswith("# reviewed by Pat\n")  # the retry saw the other change
    final = remote.show(OVERLAY)
    assert final.startswith("# reviewed by Pat\n") and tag_on(remote) == "v2"


def test_lost_push_race_reapplies_static_files(
    make_repo: MakeRepo, remote: Remote, recorder: Recorder
) -> None:
    raced: list[str] = []

    def before(argv: list[str]) -> None:
        if argv[1:2] == ["push"] and not raced:
            raced.append(remote.commit({"people.txt": "pat\n"}, "someone else's change"))

    recorder.before = before
    repo = make_repo()
    result = repo.commit_files({"argocd/web-prod.yaml": b"kind: Application\n"}, "add app")
    assert result.attempts == 2
    assert git(remote.bare, "rev-parse", "main^").strip() == raced[0]
    assert remote.show("people.txt") == "pat\n"
    assert remote.show("argocd/web-prod.yaml") == "kind: Application\n"


def test_push_races_are_bounded(
    make_repo: MakeRepo, remote: Remote, recorder: Recorder, sleeps: list[float]
) -> None:
    counter: list[int] = []

    def before(argv: list[str]) -> None:
        if argv[1:2] == ["push"]:
            counter.append(1)
            remote.commit({"people.txt": f"{len(counter)}\n"}, "always first")

    recorder.before = before
    repo = make_repo(max_attempts=3, backoff=0.25)
    with pytest.raises(TransientError, match="lost the race 3 times") as caught:
        repo.commit_files({"x.txt": b"x\n"}, "m")
    assert len(counter) == 3 and len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.375 and 0.5 <= sleeps[1] <= 0.75  # doubling, with jitter
    assert caught.value.retry_after is not None
    assert "x.txt" not in git(remote.bare, "ls-tree", "--name-only", "main")


def test_concurrent_writers_both_land(tmp_path: Path, remote: Remote) -> None:
    """Two caches (as two processes would have) and two threads on one cache."""
    repos = [
        GitRepo("acme/gitops", remote.url, tmp_path / name, lambda: TOKEN, sleep=lambda _: None)
        for name in ("one", "one", "two", "three")
    ]
    errors: list[BaseException] = []

    def land(index: int, repo: GitRepo) -> None:
        try:
            repo.commit_files({f"apps/a{index}.txt": b"x\n"}, f"add a{index}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=land, args=item) for item in enumerate(repos)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert git(remote.bare, "ls-tree", "--name-only", "main", "apps/").split() == [
        "apps/a0.txt",
        "apps/a1.txt",
        "apps/a2.txt",
        "apps/a3.txt",
        "apps/web",
    ]


def test_another_process_holding_the_lock_blocks_an_operation(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo()
    repo.head()  # creates the cache and its lock file
    lock_file = tmp_path / "data" / "repos" / "acme" / "gitops.lock"
    finished = threading.Event()
    with open(lock_file, "a+b") as other:  # a separate open file, like another process
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)

        def work() -> None:
            repo.head()
            finished.set()

        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(0.3)
        assert not finished.is_set()
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    worker.join(timeout=10)
    assert finished.is_set()


# -- reverting -----------------------------------------------------------------------------


def test_revert_of_two_deploys_is_one_commit(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    first, second = deploy(repo, "v2"), deploy(repo, "v3", delivery="d-2")
    remote.commit({"people.txt": "pat\n"}, "unrelated change")
    before = remote.head()
    message = trailers.rollback_message(
        app="web",
        env="prod",
        reverted=[second, first],
        target_image="ghcr.io/acme/web:not-deployed",
        requested_by="octocat",
        delivery="d-3",
    )
    result = repo.revert([first, second], message)  # any order: applied newest first
    assert result.sha == remote.head() and result.pushed
    assert git(remote.bare, "rev-parse", "main^").strip() == before
    assert remote.show(OVERLAY) == OVERLAY_TEXT
    assert remote.show("people.txt") == "pat\n"
    parsed = trailers.parse_trailers(remote.message("main"))
    assert parsed[trailers.ROLLBACK_OF] == [second, first]


def test_revert_can_land_on_a_pr_branch(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    deployed = deploy(repo, "v2")
    result = repo.revert([deployed[:10]], "roll back", branch="autostack/rollback-web-prod")
    assert result.branch == "autostack/rollback-web-prod" and result.pushed
    assert tag_on(remote) == "v2" and tag_on(remote, result.branch) == "not-deployed"


def test_revert_conflict_aborts_cleanly(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    deployed = deploy(repo, "v2")
    edited = remote.show(OVERLAY).replace("v2  # set by AutoStack", "v2-hotfix  # by hand")
    remote.commit({OVERLAY: edited}, "hotfix by hand")
    before = remote.head()
    with pytest.raises(UserError, match=re.escape(OVERLAY)) as caught:
        repo.revert([deployed], "roll back")
    assert deployed[:7] in caught.value.message
    assert remote.head() == before
    assert git(repo.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (repo.path / ".git" / "REVERT_HEAD").exists()
    # The cache is usable right after.
    assert repo.commit_files({"notes.txt": b"ok\n"}, "next").sha == remote.head()


def test_revert_of_an_unknown_commit_is_a_user_error(make_repo: MakeRepo) -> None:
    with pytest.raises(UserError, match="not on the GitOps branch"):
        make_repo().revert(["0" * 40], "roll back")


def test_revert_of_an_already_reverted_commit_changes_nothing(
    make_repo: MakeRepo, remote: Remote
) -> None:
    repo = make_repo()
    deployed = deploy(repo, "v2")
    assert repo.revert([deployed], "roll back").sha is not None
    before = remote.head()
    assert repo.revert([deployed], "roll back again").sha is None
    assert remote.head() == before


# -- crash recovery ------------------------------------------------------------------------


def test_leftovers_of_a_crashed_operation_are_cleaned(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    deployed = deploy(repo, "v2")
    remote.commit({OVERLAY: remote.show(OVERLAY).replace("v2", "v2-hand")}, "by hand")
    clone = repo.path
    git(clone, "fetch", "--quiet", "origin")
    git(clone, "checkout", "--quiet", "--detach", "origin/main")
    # A half-applied revert with conflicts, a dirty tree, a stray file and a stale lock.
    with pytest.raises(AssertionError):
        git(clone, "revert", "--no-commit", deployed)
    (clone / "autostack.yaml").write_text("garbage\n")
    (clone / "stray.txt").write_text("left behind\n")
    (clone / ".git" / "index.lock").write_text("")
    assert (clone / ".git" / "REVERT_HEAD").exists()

    result = repo.commit_files({"argocd/web-prod.yaml": b"kind: Application\n"}, "add app")
    changed = git(remote.bare, "show", "--name-only", "--format=", "main").split()
    assert result.sha == remote.head() and changed == ["argocd/web-prod.yaml"]
    assert remote.show("autostack.yaml") == "environments: [dev, staging, prod]\n"
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_broken_cache_is_cloned_again(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    repo.head()
    (repo.path / ".git" / "HEAD").unlink()  # no longer a repository
    assert repo.read_file("autostack.yaml") == b"environments: [dev, staging, prod]\n"


# -- reading -------------------------------------------------------------------------------


def test_read_file_and_list_dir(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    seed = remote.head()
    deploy(repo, "v2")
    assert repo.read_file(OVERLAY) == OVERLAY_TEXT.replace("not-deployed", "v2").encode()
    assert repo.read_file(OVERLAY, ref=seed) == OVERLAY_TEXT.encode()
    assert repo.read_file("apps/web/overlays/qa/kustomization.yaml") is None
    assert repo.read_file("apps/web") is None  # a directory is not a file
    assert repo.list_dir("apps/web/overlays") == ["prod/", "staging/"]
    assert repo.list_dir("") == ["apps/", "autostack.yaml"]
    assert repo.list_dir("apps/nothing") == []
    with pytest.raises(PermanentError):
        repo.read_file("../outside")


def test_reads_see_changes_made_elsewhere(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    assert repo.read_file("people.txt") is None
    pushed = remote.commit({"people.txt": "pat\n"}, "add people")
    assert repo.read_file("people.txt") == b"pat\n"
    assert repo.head() == pushed


def test_head_and_is_ancestor(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    first, second = deploy(repo, "v2"), deploy(repo, "v3")
    assert repo.head() == second == remote.head()
    assert repo.head("no-such-branch") is None
    assert repo.is_ancestor(first, second) and repo.is_ancestor(second, second)
    assert not repo.is_ancestor(second, first)
    assert not repo.is_ancestor("f" * 40, second)
    assert repo.default_branch == "main"


def test_history_parses_trailers_newest_first(make_repo: MakeRepo, remote: Remote) -> None:
    repo = make_repo()
    first, second = deploy(repo, "v2"), deploy(repo, "v3", delivery="d-2")
    staging_msg = deploy_message("v9").replace("Autostack-Env: prod", "Autostack-Env: staging")
    repo.commit_files({STAGING: b"kind: Kustomization\n"}, staging_msg)
    by_hand = remote.commit({"people.txt": "pat\n"}, "unrelated")
    git(remote.person, "revert", "--no-edit", second)  # a person's revert: no trailers
    git(remote.person, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    reverted_by_hand = remote.head()

    prod = repo.history("apps/web/overlays/prod", {trailers.APP: "web", trailers.ENV: "prod"})
    assert [c.sha for c in prod] == [second, first]
    assert prod[0].trailers[trailers.DELIVERY] == ["d-2"]
    assert prod[0].author_name == "AutoStack" and prod[0].subject.startswith("deploy web to prod")
    assert prod[0].parents == (first,)

    everything = repo.history("apps/web/overlays/prod/")
    assert [c.sha for c in everything][:3] == [reverted_by_hand, second, first]
    assert everything[0].rollback_of == (second,)
    assert everything[0].author_name == "Pat Person"
    assert by_hand not in [c.sha for c in everything]  # other paths are left out
    assert [c.sha for c in repo.history("", limit=2)] == [c.sha for c in repo.history("")[:2]]
    newest_prod = repo.history("apps/web/overlays/prod", limit=1)
    assert [c.sha for c in newest_prod] == [reverted_by_hand]
    assert repo.history("apps/web/overlays/prod", limit=0) == []


def test_history_reads_rollback_trailers(make_repo: MakeRepo) -> None:
    repo = make_repo()
    first, second = deploy(repo, "v2"), deploy(repo, "v3")
    message = trailers.rollback_message(
        app="web",
        env="prod",
        reverted=[second, first],
        target_image="ghcr.io/acme/web:not-deployed",
        requested_by="octocat",
        delivery="d-9",
    )
    rollback = repo.revert([second, first], message).sha
    found = repo.history("apps/web/overlays/prod", {trailers.ROLLBACK_OF: first})
    assert [c.sha for c in found] == [rollback]
    assert found[0].rollback_of == (second, first)


def test_an_empty_repository_gets_its_first_commit(tmp_path: Path) -> None:
    bare = tmp_path / "empty.git"
    bare.mkdir()
    git(bare, "init", "--quiet", "--bare", "--initial-branch=main")
    repo = GitRepo("acme/empty", bare.as_uri(), tmp_path / "data", lambda: TOKEN)
    assert repo.head() is None and repo.history("") == [] and repo.read_file("a") is None
    result = repo.commit_files({"autostack.yaml": b"environments: [dev]\n"}, "initialize")
    assert result.sha == git(bare, "rev-parse", "main").strip()
    assert git(bare, "rev-list", "--count", "main").strip() == "1"
    assert repo.commit_files({"autostack.yaml": b"environments: [dev]\n"}, "again").sha is None
