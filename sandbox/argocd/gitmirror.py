"""A local mirror of the GitOps repository, read like Argo CD's repo server reads it.

Credentials never reach argv or the repository config: they travel as an
``http.extraHeader`` through git's ``GIT_CONFIG_*`` environment variables.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

# Where the remote's HEAD lands in the mirror, so "HEAD" targets resolve without a round trip.
REMOTE_HEAD_REF = "refs/sandbox/remote-head"


class RepoError(Exception):
    """A git command on the mirror failed; the message is git's stderr, free of credentials."""


@dataclass(frozen=True)
class RepoCredentials:
    username: str
    password: str

    def header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Authorization: Basic " + base64.b64encode(raw).decode()


def split_credentials(url: str) -> tuple[str, RepoCredentials | None]:
    """Move ``user:pass@`` out of an http(s) URL so the URL can be shown and stored safely."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    username, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, RepoCredentials(unquote(username), unquote(password))


class GitMirror:
    """A bare mirror of one remote in ``path``; every read names a commit explicitly."""

    def __init__(self, path: Path, url: str, credentials: RepoCredentials | None = None):
        self.path = path
        self.url, embedded = split_credentials(url)
        self._credentials = credentials or embedded
        self._lock = threading.Lock()

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/false",
        }
        if self._credentials is not None:
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=self._credentials.header(),
            )
        return env

    def _git(self, *args: str) -> bytes:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            capture_output=True,
            env=self._env(),
            check=False,
        )
        if proc.returncode != 0:
            raise RepoError(self._scrub(proc.stderr.decode(errors="replace").strip()))
        return proc.stdout

    def _scrub(self, text: str) -> str:
        if self._credentials and self._credentials.password:
            text = text.replace(self._credentials.password, "***")
        return text

    def fetch(self) -> None:
        """Create the mirror if needed and bring every branch, tag and HEAD up to date."""
        with self._lock:
            if not (self.path / "HEAD").exists():
                self.path.mkdir(parents=True, exist_ok=True)
                self._git("init", "--quiet", "--bare")
                self._git("config", "remote.origin.url", self.url)
            self._git(
                "fetch",
                "--quiet",
                "--prune",
                "--force",
                "origin",
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                f"+HEAD:{REMOTE_HEAD_REF}",
            )

    def resolve(self, revision: str) -> str:
        """The commit sha that ``revision`` (HEAD, branch, tag or sha) names in the mirror."""
        rev = revision.strip() or "HEAD"
        candidates = (
            [REMOTE_HEAD_REF] if rev == "HEAD" else [f"refs/heads/{rev}", f"refs/tags/{rev}", rev]
        )
        for candidate in candidates:
            try:
                out = self._git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
            except RepoError:
                continue
            return out.decode().strip()
        raise RepoError(f"unable to resolve '{revision}' to a commit SHA")

    def files(self, sha: str, prefix: str = "") -> list[str]:
        args = ["ls-tree", "-r", "--name-only", "-z", sha]
        if prefix:
            args += ["--", prefix.rstrip("/") + "/"]
        return [p for p in self._git(*args).decode().split("\0") if p]

    def directories(self, sha: str) -> list[str]:
        out = self._git("ls-tree", "-r", "-d", "--name-only", "-z", sha)
        return [p for p in out.decode().split("\0") if p]

    def read(self, sha: str, path: str) -> str:
        return self._git("cat-file", "blob", f"{sha}:{path}").decode()

    def commit_time(self, sha: str) -> int:
        return int(self._git("show", "-s", "--format=%ct", sha).decode().strip())

    def export(self, sha: str, dest: Path, prefix: str = "") -> None:
        """Write the tree of ``sha`` into ``dest``, like a checkout that leaves the mirror alone;
        with ``prefix``, only that directory (at its place in the tree)."""
        args = ["archive", "--format=tar", sha]
        if prefix.strip("/"):
            args += ["--", prefix.strip("/")]
        data = self._git(*args)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
