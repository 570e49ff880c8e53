"""The installation token reaches git over smart HTTP, and nowhere else: not argv, not
``.git/config``, not error text."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.git import GitRepo
from bot.core.errors import AutostackError, PermanentError, TransientError
from tests.bot.adapters.conftest import OVERLAY_TEXT, Recorder, Remote, git
from tests.bot.adapters.git_http import ServerState, serve

TOKENS = [f"ghs_RotatingToken{n}xxxxxxxxxxxxxxxxxxxxxxxx" for n in range(1, 50)]


@pytest.fixture
def served(remote: Remote) -> Iterator[tuple[ServerState, str]]:
    state = ServerState(root=remote.bare.parent, token=TOKENS[0])
    with serve(state) as base_url:
        yield state, f"{base_url}/gitops.git"


def everything_git_saw(recorder: Recorder) -> str:
    return "\n".join(" ".join(argv) for argv in recorder.argvs())


def test_token_authenticates_clone_and_push_without_leaking(
    served: tuple[ServerState, str], remote: Remote, tmp_path: Path, recorder: Recorder
) -> None:
    state, url = served
    issued = iter(TOKENS)
    current: list[str] = []

    def provider() -> str:
        current.append(next(issued))
        state.token = current[-1]  # the server accepts only the newest token
        return current[-1]

    repo = GitRepo("acme/gitops", url, tmp_path / "data", provider, run=recorder)
    assert repo.read_file("apps/web/overlays/prod/kustomization.yaml") == OVERLAY_TEXT.encode()
    result = repo.commit_files({"notes.txt": b"hello\n"}, "add notes")
    assert result.sha == remote.head()

    assert len(current) >= 3  # a fresh token for every network call
    assert f"x-access-token:{current[-1]}" in state.seen_auth
    config = (repo.path / ".git" / "config").read_text()
    assert f"url = {url}\n" in config
    argv_text = everything_git_saw(recorder)
    for token in current:
        assert token not in argv_text
        assert token not in config
    # The token is in the environment of network calls only.
    local = [env for argv, env in recorder.calls if argv[1] in ("commit", "add", "cat-file")]
    assert local and all("AUTOSTACK_GIT_TOKEN" not in env for env in local)
    # Nothing in the clone (config, logs, packed refs) remembers it.
    for path in (repo.path / ".git").rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000:
            assert current[-1].encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("mode", "error"),
    [("unauthorized", PermanentError), ("error", TransientError), ("echo", PermanentError)],
)
def test_failing_server_errors_carry_no_token(
    served: tuple[ServerState, str],
    tmp_path: Path,
    recorder: Recorder,
    mode: str,
    error: type[AutostackError],
) -> None:
    state, url = served
    state.mode = mode
    repo = GitRepo("acme/gitops", url, tmp_path / "data", lambda: TOKENS[0], run=recorder)
    with pytest.raises(error) as caught:
        repo.head()
    text = f"{caught.value} {caught.value!r} {caught.value.hint}"
    assert "acme/gitops: git clone failed" in text
    assert TOKENS[0] not in text and TOKENS[0][4:20] not in text
    assert TOKENS[0] not in everything_git_saw(recorder)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    if mode == "echo":
        # The careless server did send the token back; git printed it; we masked it.
        assert any(TOKENS[0] in seen for seen in state.seen_auth)
        assert "[redacted]" in text


def test_a_push_rejected_for_auth_is_permanent(
    served: tuple[ServerState, str], tmp_path: Path
) -> None:
    _, url = served
    counter = itertools.count()

    def provider() -> str:
        # Reads succeed; from the push on, the token no longer works.
        return TOKENS[0] if next(counter) < 2 else TOKENS[1]

    repo = GitRepo("acme/gitops", url, tmp_path / "data", provider)
    repo.head()
    with pytest.raises(PermanentError, match="App is installed") as caught:
        repo.commit_files({"notes.txt": b"x\n"}, "m")
    assert TOKENS[1] not in str(caught.value)


def test_a_clone_url_with_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="carries credentials") as caught:
        GitRepo("acme/gitops", f"https://x:{TOKENS[0]}@example.com/a.git", tmp_path, lambda: "")
    assert TOKENS[0] not in str(caught.value)


def test_a_timeout_is_transient(remote: Remote, tmp_path: Path) -> None:
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nsleep 30\n")
    hook.chmod(0o755)
    repo = GitRepo("acme/gitops", remote.url, tmp_path / "data", lambda: "", timeout=1.0)
    repo.head()
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        repo.commit_files({"notes.txt": b"x\n"}, "m")
    assert time.monotonic() - started < 10  # the hook was killed along with git
    git(remote.bare, "rev-parse", "main")  # the remote is intact


def test_a_rejecting_hook_is_permanent(remote: Remote, tmp_path: Path) -> None:
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: changes need a pull request' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo = GitRepo("acme/gitops", remote.url, tmp_path / "data", lambda: "")
    with pytest.raises(PermanentError, match="protected branch"):
        repo.commit_files({"notes.txt": b"x\n"}, "m")
