"""One set of scenarios run against the real ``GitRepo`` (over a bare remote) and the
in-memory ``FakeGitRepo``, so handler tests that use the fake test what git would do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.adapters.git import GitRepoPort
from bot.adapters.git.fake import FakeGitRepo
from bot.core import trailers
from bot.core.errors import PermanentError, UserError
from tests.bot.adapters.conftest import OVERLAY, OVERLAY_TEXT, STAGING, Remote

SEED = {
    OVERLAY: OVERLAY_TEXT.encode(),
    STAGING: OVERLAY_TEXT.replace("prod", "staging").encode(),
    "autostack.yaml": b"environments: [dev, staging, prod]\n",
}


@dataclass
class Subject:
    repo: GitRepoPort
    someone_commits: Callable[[dict[str, str], str], str]


@pytest.fixture(params=["git", "fake"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    if request.param == "fake":
        fake = FakeGitRepo(SEED)
        return Subject(
            fake,
            lambda files, message: fake.commit_as(
                "Pat Person", {k: v.encode() for k, v in files.items()}, message
            ),
        )
    remote: Remote = request.getfixturevalue("remote")
    make_repo = request.getfixturevalue("make_repo")
    return Subject(make_repo(), remote.commit)


def message(tag: str, env: str = "prod") -> str:
    return trailers.deploy_message(
        app="web",
        env=env,
        image=f"ghcr.io/acme/web:{tag}",
        source_repo="acme/web",
        source_sha="a" * 40,
        requested_by="octocat",
        delivery=f"d-{tag}",
    )


def bump(repo: GitRepoPort, tag: str, branch: str | None = None) -> str:
    def edit(read: Callable[[str], bytes | None]) -> dict[str, bytes | None]:
        text = (read(OVERLAY) or b"").decode()
        return {OVERLAY: text.replace("not-deployed", tag).encode()}

    result = repo.commit_files(None, message(tag), branch, edit=edit)
    assert result.sha is not None
    return result.sha


def test_reads(subject: Subject) -> None:
    repo = subject.repo
    assert repo.default_branch == "main"
    assert repo.read_file(OVERLAY) == OVERLAY_TEXT.encode()
    assert repo.read_file("missing.yaml") is None
    assert repo.list_dir("") == ["apps/", "autostack.yaml"]
    assert repo.list_dir("apps/web/overlays/") == ["prod/", "staging/"]
    assert repo.list_dir("nothing") == []
    with pytest.raises(PermanentError):
        repo.read_file("../x")


def test_commits_branches_and_no_ops(subject: Subject) -> None:
    repo = subject.repo
    seed = repo.head()
    assert repo.commit_files({OVERLAY: OVERLAY_TEXT.encode()}, "same").sha is None
    assert repo.commit_files(dict(SEED), "same", "autostack/web-prod").sha is None
    assert repo.head("autostack/web-prod") is None

    on_branch = bump(repo, "v2", "autostack/web-prod")
    assert repo.head() == seed and repo.head("autostack/web-prod") == on_branch
    again = repo.commit_files(None, message("v2"), "autostack/web-prod", edit=lambda _: {})
    assert again.sha is None  # an edit that writes nothing is no change
    same = repo.commit_files(
        {OVERLAY: OVERLAY_TEXT.replace("not-deployed", "v2").encode()},
        message("v2"),
        "autostack/web-prod",
    )
    assert same.sha == on_branch and not same.pushed

    direct = bump(repo, "v3")
    assert repo.head() == direct and repo.is_ancestor(seed or "", direct)
    assert not repo.is_ancestor(direct, on_branch)
    assert b"newTag: v3" in (repo.read_file(OVERLAY) or b"")
    assert repo.read_file(OVERLAY, ref=on_branch) == (repo.read_file(OVERLAY, "autostack/web-prod"))
    with pytest.raises(PermanentError):
        repo.commit_files({"x": b"y"}, "m", "main", "autostack/web-prod")


def test_history_and_reverts(subject: Subject) -> None:
    repo = subject.repo
    first = bump(repo, "v2")
    subject.someone_commits({"people.txt": "pat\n"}, "unrelated")
    repo.commit_files({STAGING: b"kind: Kustomization\n"}, message("v9", env="staging"))
    text = (repo.read_file(OVERLAY) or b"").decode()
    second = repo.commit_files({OVERLAY: text.replace("v2", "v3").encode()}, message("v3")).sha
    assert second is not None

    wanted = {trailers.APP: "web", trailers.ENV: "prod"}
    history = repo.history("apps/web/overlays/prod", wanted)
    assert [c.sha for c in history] == [second, first]
    assert history[0].trailers[trailers.IMAGE] == ["ghcr.io/acme/web:v3"]
    assert history[0].author_name == "AutoStack"
    assert len(repo.history("apps/web/overlays/prod")) == 3  # with the seed commit

    rollback = trailers.rollback_message(
        app="web",
        env="prod",
        reverted=[second, first],
        target_image="ghcr.io/acme/web:not-deployed",
        requested_by="octocat",
        delivery="d-r",
    )
    reverted = repo.revert([first, second], rollback)
    assert reverted.sha == repo.head() and reverted.sha is not None
    assert repo.read_file(OVERLAY) == OVERLAY_TEXT.encode()
    assert repo.read_file("people.txt") == b"pat\n"
    newest = repo.history("apps/web/overlays/prod", wanted, limit=1)[0]
    assert newest.sha == reverted.sha and newest.rollback_of == (second, first)
    assert repo.revert([first], "again").sha is None  # already undone: nothing to commit
    with pytest.raises(UserError, match="conflicts"):
        repo.revert([second], "again")  # v3 is gone, so undoing v2 -> v3 collides


def test_revert_conflicts(subject: Subject) -> None:
    repo = subject.repo
    deployed = bump(repo, "v2")
    edited = OVERLAY_TEXT.replace("not-deployed  # set by AutoStack", "v2-hotfix  # by hand")
    subject.someone_commits({OVERLAY: edited}, "hotfix")
    before = repo.head()
    with pytest.raises(UserError, match="conflicts with later changes to `apps/web"):
        repo.revert([deployed], "roll back")
    with pytest.raises(UserError, match="not on the GitOps branch"):
        repo.revert(["0" * 40], "roll back")
    assert repo.head() == before
