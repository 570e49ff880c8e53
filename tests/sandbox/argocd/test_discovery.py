"""Discovery of Applications from a real git repository, ApplicationSet expansion, repo auth."""

from __future__ import annotations

import base64
import functools
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbox.argocd import gitmirror
from sandbox.argocd.controller import Snapshot
from sandbox.argocd.discovery import discover, expand_application_set, glob_regex
from sandbox.argocd.gitmirror import GitMirror, RepoError
from sandbox.argocd.render import render_path
from tests.sandbox.argocd.gitops import OVERLAY, GitopsRepo, git


def snapshot_of(repo_url: str, data: Path, **kwargs: Any) -> Snapshot:
    mirror = GitMirror(data / "mirror.git", repo_url, **kwargs)
    mirror.fetch()
    return Snapshot(mirror, mirror.resolve("HEAD"))


def test_discovers_applications_and_expands_the_application_set(
    gitops: GitopsRepo, tmp_path: Path
) -> None:
    found = discover(snapshot_of(gitops.url, tmp_path))
    apps = {a["metadata"]["name"]: a for a in found.applications}
    assert found.errors == []
    assert sorted(apps) == ["api-dev", "web-dev", "web-prod"]
    api = apps["api-dev"]
    assert api["kind"] == "Application"
    assert api["spec"]["source"]["path"] == "apps/api/overlays/dev"
    assert api["spec"]["destination"]["namespace"] == "api-dev"
    assert api["metadata"]["labels"] == {"autostack.dev/app": "api", "autostack.dev/env": "dev"}
    assert apps["web-prod"]["spec"]["source"]["targetRevision"] == "main"


def test_a_new_overlay_directory_adds_an_application(gitops: GitopsRepo, tmp_path: Path) -> None:
    gitops.write(
        "apps/api/overlays/staging/kustomization.yaml",
        OVERLAY.format(app="api", env="staging", tag="v1"),
    )
    gitops.write("argocd/nested/deeper/notes.txt", "not yaml, ignored\n")
    gitops.commit("Add api staging")
    names = {
        a["metadata"]["name"] for a in discover(snapshot_of(gitops.url, tmp_path)).applications
    }
    assert names == {"api-dev", "api-staging", "web-dev", "web-prod"}


class FakeRepo:
    def __init__(self, files: dict[str, str]):
        self._files = files

    def files(self, prefix: str = "") -> list[str]:
        return [p for p in self._files if p.startswith(prefix)]

    def directories(self) -> list[str]:
        dirs = set()
        for path in self._files:
            parts = path.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return sorted(dirs)

    def read(self, path: str) -> str:
        return self._files[path]


def test_files_generator_with_fasttemplate_and_exclusions() -> None:
    repo = FakeRepo(
        {
            "clusters/eu/config.json": '{"cluster": {"name": "eu-1", "url": "https://eu"}}',
            "clusters/us/config.json": '{"cluster": {"name": "us-1", "url": "https://us"}}',
            "clusters/us/other.json": "{}",
        }
    )
    appset = {
        "spec": {
            "generators": [{"git": {"files": [{"path": "clusters/**/config.json"}]}}],
            "template": {
                "metadata": {"name": "web-{{cluster.name}}"},
                "spec": {
                    "source": {"path": "{{path}}/{{path.basename}}/{{path.filename}}"},
                    "destination": {"server": "{{cluster.url}}"},
                },
            },
        }
    }
    apps = expand_application_set(appset, repo)
    assert [a["metadata"]["name"] for a in apps] == ["web-eu-1", "web-us-1"]
    assert apps[0]["spec"]["source"]["path"] == "clusters/eu/eu/config.json"
    assert apps[1]["spec"]["destination"]["server"] == "https://us"


def test_directory_generator_excludes_and_globs_stay_in_one_segment() -> None:
    repo = FakeRepo(
        {f"apps/{a}/overlays/{e}/k.yaml": "" for a in ("x", "y") for e in ("dev", "prod")}
    )
    appset = {
        "spec": {
            "goTemplate": True,
            "generators": [
                {
                    "git": {
                        "directories": [
                            {"path": "apps/*/overlays/*"},
                            {"path": "apps/y/overlays/prod", "exclude": True},
                        ]
                    }
                }
            ],
            "template": {"metadata": {"name": "{{index .path.segments 1}}-{{.path.basename}}"}},
        }
    }
    names = [a["metadata"]["name"] for a in expand_application_set(appset, repo)]
    assert names == ["x-dev", "x-prod", "y-dev"]
    assert not glob_regex("apps/*", cross_segments=False).fullmatch("apps/x/overlays")
    assert glob_regex("**/config.json", cross_segments=True).fullmatch("config.json")


def test_directory_source_reports_invalid_objects(gitops: GitopsRepo, tmp_path: Path) -> None:
    gitops.write("plain/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    gitops.commit("Add a nameless ConfigMap")
    snap = snapshot_of(gitops.url, tmp_path)
    rendered = render_path(snap.mirror, snap.sha, "plain")
    assert rendered.source_type == "Directory"
    assert rendered.error is not None and "metadata.name is required" in rendered.error


class AuthHandler(SimpleHTTPRequestHandler):
    """Serves a bare repository over git's dumb HTTP protocol, behind basic auth."""

    expected = ""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_repo(gitops: GitopsRepo) -> Iterator[str]:
    git(gitops.remote, "update-server-info")
    token = "s3cret-token"
    AuthHandler.expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    handler = functools.partial(AuthHandler, directory=str(gitops.remote))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_http_repo_with_credentials_kept_out_of_argv(
    http_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        calls.append(list(args))
        return real_run(args, **kwargs)

    monkeypatch.setattr(gitmirror.subprocess, "run", spy)
    with pytest.raises(RepoError) as refused:
        snapshot_of(http_repo, tmp_path / "anonymous")
    assert "s3cret-token" not in str(refused.value)

    creds = gitmirror.RepoCredentials("x-access-token", "s3cret-token")
    snap = snapshot_of(http_repo, tmp_path / "authed", credentials=creds)
    assert {a["metadata"]["name"] for a in discover(snap).applications} == {
        "api-dev",
        "web-dev",
        "web-prod",
    }
    assert calls and all("s3cret-token" not in " ".join(c) for c in calls)
    config = (tmp_path / "authed" / "mirror.git" / "config").read_text()
    assert "s3cret-token" not in config


def test_credentials_embedded_in_the_url_are_moved_out_of_it() -> None:
    url, creds = gitmirror.split_credentials("https://x-access-token:tok%40en@git.example/o/r.git")
    assert url == "https://git.example/o/r.git"
    assert creds == gitmirror.RepoCredentials("x-access-token", "tok@en")
