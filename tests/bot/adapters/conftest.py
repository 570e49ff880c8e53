"""Fixtures for the git adapter: a real bare remote seeded with a GitOps layout, a second
clone that plays "someone else", and a ``run`` wrapper that records every git argv."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.git import GitRepo

TOKEN = "ghs_TestInstallationToken0123456789abcdef"
OVERLAY = "apps/web/overlays/prod/kustomization.yaml"
STAGING = "apps/web/overlays/staging/kustomization.yaml"
OVERLAY_TEXT = """\
# prod overlay for web
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: web-prod
resources:
  - ../../base
images:
  - name: web
    newName: ghcr.io/acme/web
    newTag: not-deployed  # set by AutoStack
"""
PERSON = {
    "GIT_AUTHOR_NAME": "Pat Person",
    "GIT_AUTHOR_EMAIL": "pat@example.com",
    "GIT_COMMITTER_NAME": "Pat Person",
    "GIT_COMMITTER_EMAIL": "pat@example.com",
}


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    """Run git as a person at a terminal would, outside the adapter."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        **PERSON,
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=input, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


@dataclass
class Recorder:
    """A ``subprocess.run`` stand-in that records argv and env, and may act before a call."""

    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)
    before: Callable[[list[str]], None] | None = None

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((list(argv), dict(kwargs.get("env") or {})))
        if self.before is not None:
            self.before(list(argv))
        return subprocess.run(argv, **kwargs)

    def argvs(self) -> list[list[str]]:
        return [argv for argv, _ in self.calls]

    def pushes(self) -> list[list[str]]:
        return [argv for argv in self.argvs() if argv[1:2] == ["push"]]


@dataclass
class Remote:
    """A bare repository and a person's clone of it."""

    bare: Path
    person: Path

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def head(self, branch: str = "main") -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}").strip()

    def show(self, path: str, rev: str = "main") -> str:
        return git(self.bare, "show", f"{rev}:{path}")

    def branches(self) -> list[str]:
        out = git(self.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return sorted(out.split())

    def message(self, rev: str) -> str:
        return git(self.bare, "log", "-1", "--format=%B", rev)

    def commit(self, files: dict[str, str], message: str) -> str:
        """Push a commit as a person: pull, write, commit, push."""
        git(self.person, "pull", "--quiet", "--ff-only", "origin", "main")
        for rel, text in files.items():
            target = self.person / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.person, "add", "--all")
        git(self.person, "commit", "--quiet", "-m", message)
        git(self.person, "push", "--quiet", "origin", "HEAD:refs/heads/main")
        return git(self.person, "rev-parse", "HEAD").strip()


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    bare = tmp_path / "remote" / "gitops.git"
    bare.mkdir(parents=True)
    git(bare, "init", "--quiet", "--bare", "--initial-branch=main")
    person = tmp_path / "person"
    git(tmp_path, "clone", "--quiet", bare.as_uri(), str(person))
    git(person, "checkout", "--quiet", "-b", "main")
    made = Remote(bare, person)
    for rel, text in {
        OVERLAY: OVERLAY_TEXT,
        STAGING: OVERLAY_TEXT.replace("prod", "staging"),
    }.items():
        (person / rel).parent.mkdir(parents=True, exist_ok=True)
        (person / rel).write_text(text)
    (person / "autostack.yaml").write_text("environments: [dev, staging, prod]\n")
    git(person, "add", "--all")
    git(person, "commit", "--quiet", "-m", "seed the GitOps repository")
    git(person, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return made


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_repo(
    tmp_path: Path, remote: Remote, recorder: Recorder, sleeps: list[float]
) -> Callable[..., GitRepo]:
    def make(data: str = "data", url: str | None = None, **options: Any) -> GitRepo:
        options.setdefault("run", recorder)
        options.setdefault("sleep", sleeps.append)
        return GitRepo("acme/gitops", url or remote.url, tmp_path / data, lambda: TOKEN, **options)

    return make
