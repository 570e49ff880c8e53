"""The installation handler against the shared fake GitHub and real bare git remotes: the
onboarding pull requests, their idempotency, the issue for a repository that cannot be
onboarded, and removal touching nothing."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.clock import FakeClock
from bot.core.errors import PermanentError, TransientError
from bot.core.events import Event
from bot.handlers import router
from bot.handlers.install import APP_BRANCH, ISSUE_MARKER, touches_setup
from bot.ports import NotFound
from bot.router import HandlerContext
from bot.services import Services
from bot.settings import Settings
from bot.store import Store
from generators.appconfig import APP_CONFIG_FILE, parse_app_config
from generators.model import AppConfig
from generators.pipeline import GenerateRequest, generate
from generators.skeleton import skeleton_files
from tests.bot.adapters.conftest import Remote, git
from tests.fakes.github import FakeGitHub

FASTAPI_APP = Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "python-fastapi-uv"
APP = "acme/shop-api"
GITOPS = "acme/gitops"
GITOPS_BRANCH = "autostack/onboard-shop-api"
APP_FILES = {".dockerignore", "Dockerfile", ".github/workflows/autostack-build.yml"}


def make_remote(root: Path, full_name: str, files: dict[str, bytes]) -> Remote:
    """A bare repository whose ``main`` holds ``files``, and a person's clone of it."""
    bare = root / "remotes" / f"{full_name}.git"
    bare.mkdir(parents=True)
    git(bare, "init", "--quiet", "--bare", "--initial-branch=main")
    person = root / "people" / full_name
    person.parent.mkdir(parents=True, exist_ok=True)
    git(root, "clone", "--quiet", bare.as_uri(), str(person))
    git(person, "checkout", "--quiet", "-b", "main")
    for rel, content in files.items():
        (person / rel).parent.mkdir(parents=True, exist_ok=True)
        (person / rel).write_bytes(content)
    git(person, "add", "--all")
    git(person, "commit", "--quiet", "-m", "first commit")
    git(person, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    return Remote(bare, person)


def fixture_files(source: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(source)): path.read_bytes()
        for path in sorted(source.rglob("*"))
        if path.is_file() and path.name != "expected.json"  # the generator tests' answer key
    }


def tree(remote: Remote, rev: str) -> dict[str, str]:
    names = git(remote.bare, "ls-tree", "-r", "--name-only", rev).split()
    return {name: remote.show(name, rev) for name in names}


def changed(remote: Remote, branch: str) -> set[str]:
    return set(git(remote.bare, "diff", "--name-only", f"main...{branch}").split())


@dataclass
class World:
    """Two repositories on real remotes behind the fake GitHub, and a way to deliver."""

    root: Path
    github: FakeGitHub
    services: Services
    ctx: HandlerContext
    remotes: dict[str, Remote] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_repo(self, full_name: str, files: dict[str, bytes]) -> Remote:
        remote = make_remote(self.root, full_name, files)
        info = self.github.add_repo(full_name)
        self.github.repos[full_name.lower()] = replace(info, clone_url=remote.url)
        self.remotes[full_name] = remote
        return remote

    def deliver(self, name: str, action: str | None, **payload: Any) -> Event:
        payload = {
            "action": action,
            "installation": {"id": 42, "account": {"login": "acme", "type": "Organization"}},
            "sender": {"login": "octocat", "type": "User"},
            **payload,
        }
        repository = (payload.get("repository") or {}).get("full_name")
        event = Event(f"delivery-{next(self._ids)}", name, action, 42, repository, payload)
        router().dispatch(event, self.ctx)
        return event

    def install(self, *names: str) -> Event:
        return self.deliver("installation", "created", repositories=repos(*names))

    def add(self, *names: str) -> Event:
        return self.deliver("installation_repositories", "added", repositories_added=repos(*names))

    def summaries(self) -> list[str]:
        return [entry.summary for entry in self.ctx.audit.entries()]


def repos(*names: str) -> list[dict[str, Any]]:
    return [
        {"id": 1000 + i, "name": n.split("/")[1], "full_name": n, "private": True}
        for i, n in enumerate(names)
    ]


@pytest.fixture
def world(tmp_path: Path, settings: Settings, sqlite_store: Store, clock: FakeClock) -> World:
    github = FakeGitHub()
    services = Services(settings, github)
    ctx = HandlerContext.build(settings, sqlite_store, clock, services=services)
    made = World(tmp_path, github, services, ctx)
    gitops_url = (tmp_path / "remotes" / f"{GITOPS}.git").as_uri()
    made.add_repo(GITOPS, skeleton_files(gitops_url))
    return made


@pytest.fixture
def shop(world: World) -> Remote:
    return world.add_repo(APP, fixture_files(FASTAPI_APP))


# -- a FastAPI app -------------------------------------------------------------------------


def expected_generation(world: World, tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """What ``autostack generate`` writes for the fixture, run the way a person would."""
    app_dir, gitops_dir = tmp_path / "expect-app", tmp_path / "expect-gitops"
    shutil.copytree(FASTAPI_APP, app_dir)
    git(tmp_path, "clone", "--quiet", world.remotes[GITOPS].url, str(gitops_dir))
    result = generate(GenerateRequest(app_dir, gitops_dir, "ghcr.io/acme", source_repo=APP))
    return (
        {c.path: c.new.decode() for c in result.app_changes.writes},
        {c.path: c.new.decode() for c in result.gitops_changes.writes},
    )


def test_a_fastapi_app_gets_both_pull_requests_with_the_generated_files(
    world: World, shop: Remote, tmp_path: Path
) -> None:
    world.install(APP)
    app_expected, gitops_expected = expected_generation(world, tmp_path)
    gitops = world.remotes[GITOPS]

    assert changed(gitops, GITOPS_BRANCH) == set(gitops_expected)
    on_branch = tree(gitops, GITOPS_BRANCH)
    assert {path: on_branch[path] for path in gitops_expected} == gitops_expected
    assert {
        "argocd/apps/shop-api-dev.yaml",
        "argocd/apps/shop-api-staging.yaml",
        "argocd/apps/shop-api-prod.yaml",
        "apps/shop-api/overlays/prod/kustomization.yaml",
    } <= set(gitops_expected)
    assert "ghcr.io/acme/shop-api" in on_branch["apps/shop-api/overlays/dev/kustomization.yaml"]

    assert changed(shop, APP_BRANCH) == APP_FILES | {APP_CONFIG_FILE}
    app_branch = tree(shop, APP_BRANCH)
    assert {path: app_branch[path] for path in app_expected} == app_expected
    # The settings file is valid, pins only the name, and shows what was detected.
    settings_text = app_branch[APP_CONFIG_FILE]
    assert parse_app_config(settings_text) == AppConfig(name="shop-api")
    assert "# port: 8000" in settings_text and '# health_path: "/healthz"' in settings_text
    assert '# migrate: ["alembic", "upgrade", "head"]' in settings_text

    [gitops_pr] = world.github.open_pulls(GITOPS)
    assert (gitops_pr.head, gitops_pr.base, gitops_pr.title) == (
        GITOPS_BRANCH,
        "main",
        "Onboard shop-api",
    )
    for application in ("shop-api-dev", "shop-api-staging", "shop-api-prod"):
        assert f"`{application}`" in gitops_pr.body
    assert "`apps/shop-api/overlays/prod`" in gitops_pr.body
    assert "- `argocd/apps/shop-api-prod.yaml` (created)\n" in gitops_pr.body

    [app_pr] = world.github.open_pulls(APP)
    assert (app_pr.head, app_pr.base, app_pr.title) == (
        APP_BRANCH,
        "main",
        "Set up AutoStack deployments",
    )
    body = app_pr.body
    assert "`uvicorn orders.api:app --host 0.0.0.0 --port 8000`" in body
    assert "| Port | 8000 |" in body and "HTTP GET `/healthz`" in body
    assert "`ghcr.io/acme/shop-api:<commit sha>`" in body
    assert "`orders/api.py creates the FastAPI app 'app'`" in body
    # The app PR points at the GitOps PR, and lists its files.
    assert f"[acme/gitops#{gitops_pr.ref.number}]({gitops_pr.ref.html_url})" in body
    assert "- `.github/autostack.yml` (created)\n" in body and "- `Dockerfile` (created)\n" in body
    assert "deploys to `dev` automatically" in body

    assert world.github.called("open_or_update_issue") == []
    summaries = world.summaries()
    assert f"opened onboarding pull request #{gitops_pr.ref.number} on {GITOPS}" in summaries
    assert f"opened onboarding pull request #{app_pr.ref.number} on {APP}" in summaries


def test_a_second_delivery_updates_the_same_branches_and_pull_requests(
    world: World, shop: Remote
) -> None:
    gitops = world.remotes[GITOPS]
    world.install(APP)
    first = (gitops.head(GITOPS_BRANCH), shop.head(APP_BRANCH))
    world.install(APP)  # the same installation delivered again
    world.add(APP)  # and the repository re-added
    assert (gitops.head(GITOPS_BRANCH), shop.head(APP_BRANCH)) == first
    assert len(world.github.open_pulls(GITOPS)) == len(world.github.open_pulls(APP)) == 1
    assert gitops.branches() == ["autostack/onboard-shop-api", "main"]
    assert shop.branches() == [APP_BRANCH, "main"]

    # The GitOps default branch moves: the onboarding branch is rebuilt on it, in place.
    new_main = gitops.commit({"README.md": "moved on\n"}, "edit the README")
    world.add(APP)
    assert git(gitops.bare, "rev-parse", f"{GITOPS_BRANCH}^").strip() == new_main
    assert len(world.github.open_pulls(GITOPS)) == 1
    assert git(gitops.bare, "rev-list", "--count", f"main..{GITOPS_BRANCH}").strip() == "1"
    created = [call[1] for call in world.github.called("open_or_update_pr")]
    assert len(created) == 8  # two per delivery, always onto the same two head branches
    assert set(created) == {GITOPS_BRANCH, APP_BRANCH}


def test_a_retry_after_a_transient_failure_completes_without_duplicates(
    world: World, shop: Remote
) -> None:
    world.github.fail("open_or_update_pr", TransientError("GitHub answered 502"))
    with pytest.raises(TransientError):
        world.install(APP)
    assert world.github.open_pulls(GITOPS) == []
    world.install(APP)  # the queue's retry
    assert len(world.github.open_pulls(GITOPS)) == len(world.github.open_pulls(APP)) == 1


def test_an_onboarded_repository_gets_no_new_pull_requests(world: World, shop: Remote) -> None:
    world.install(APP)
    for remote, branch in ((world.remotes[GITOPS], GITOPS_BRANCH), (shop, APP_BRANCH)):
        git(remote.bare, "update-ref", "refs/heads/main", f"refs/heads/{branch}")  # merged
    for pull in world.github.pull_requests.values():
        pull.state = "closed"
    calls = len(world.github.called("open_or_update_pr"))
    world.add(APP)
    assert len(world.github.called("open_or_update_pr")) == calls
    assert world.github.open_pulls(APP) == world.github.open_pulls(GITOPS) == []
    assert f"{APP} is set up already; nothing to change" in world.summaries()


def test_an_existing_settings_file_names_the_app_and_is_left_alone(world: World) -> None:
    files = fixture_files(FASTAPI_APP)
    files[APP_CONFIG_FILE] = b"name: orders\nport: 8000\n"
    shop = world.add_repo(APP, files)
    world.install(APP)
    assert shop.show(APP_CONFIG_FILE, APP_BRANCH) == "name: orders\nport: 8000\n"
    assert changed(shop, APP_BRANCH) == APP_FILES
    assert world.remotes[GITOPS].branches() == ["autostack/onboard-orders", "main"]


# -- a repository the generators cannot handle -----------------------------------------------


def test_an_unknown_stack_gets_an_issue_and_no_pull_requests(world: World) -> None:
    notes = world.add_repo("acme/notes", {"README.md": b"# Notes\n", "notes.txt": b"hello\n"})
    world.add("acme/notes")
    [issue] = world.github.issues.values()
    assert (issue.repo, issue.marker, issue.state) == ("acme/notes", ISSUE_MARKER, "open")
    assert issue.title == "AutoStack could not set up this repository"
    body = issue.body
    assert "```\nacme/notes: no supported stack found; looked for Dockerfile," in body
    assert "- `package.json (Node.js)`" in body and "- `Dockerfile`" in body
    assert "`.github/autostack.yml`" in body and "health_path: /healthz" in body
    assert "push to `main`" in body and "removed from this repository and added again" in body
    assert "autostack-export" not in body and str(world.root) not in body  # no temp paths
    assert world.github.called("open_or_update_pr") == []
    assert notes.branches() == ["main"] and world.remotes[GITOPS].branches() == ["main"]
    assert any(s.startswith("opened onboarding issue #") for s in world.summaries())

    world.add("acme/notes")  # again: the same issue, updated
    assert len(world.github.issues) == 1 and world.github.called("open_or_update_pr") == []


def test_the_issue_names_the_bad_setting_and_never_echoes_a_secret(world: World) -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    files = fixture_files(FASTAPI_APP)
    files[APP_CONFIG_FILE] = f"port: {token}\n".encode()
    world.add_repo(APP, files)
    world.install(APP)
    [issue] = world.github.issues.values()
    assert "```\n.github/autostack.yml: port: must be a int, got 'ghp_[redacted]'\n```" in (
        issue.body
    )
    assert token not in issue.body
    assert all(token not in entry.summary for entry in world.ctx.audit.entries())
    assert world.github.called("open_or_update_pr") == []


def test_a_fix_pushed_later_onboards_the_repository_and_closes_the_issue(world: World) -> None:
    notes = world.add_repo("acme/notes", {"README.md": b"# Notes\n"})
    world.add("acme/notes")
    [issue] = world.github.issues.values()
    notes.commit({"Dockerfile": "FROM nginx:1.27\nEXPOSE 80\n"}, "add a Dockerfile")
    world.deliver(
        "push",
        None,
        ref="refs/heads/main",
        repository={"full_name": "acme/notes", "default_branch": "main"},
        commits=[{"id": notes.head(), "added": ["Dockerfile"], "modified": [], "removed": []}],
    )
    assert issue.state == "closed"
    assert world.remotes[GITOPS].branches() == ["autostack/onboard-notes", "main"]
    [app_pr] = world.github.open_pulls("acme/notes")
    assert "| Port | 80 |" in app_pr.body
    assert changed(notes, APP_BRANCH) == {
        ".dockerignore",
        ".github/workflows/autostack-build.yml",
        APP_CONFIG_FILE,
    }  # the Dockerfile is the user's and stays as it is
    assert "closed the onboarding issue on acme/notes" in world.summaries()


def test_pushes_that_cannot_fix_onboarding_are_ignored(world: World, shop: Remote) -> None:
    push = {"repository": {"full_name": APP, "default_branch": "main"}}
    commit = {"added": [], "modified": ["orders/api.py"], "removed": []}
    world.deliver("push", None, ref="refs/heads/main", commits=[commit], **push)
    fix = {"added": [APP_CONFIG_FILE], "modified": [], "removed": []}
    world.deliver("push", None, ref="refs/heads/feature", commits=[fix], **push)
    assert world.github.calls == [] and shop.branches() == ["main"]
    assert touches_setup({"commits": [fix]}) and touches_setup(
        {"commits": [{"modified": ["services/api/Dockerfile"]}]}
    )


# -- what is skipped or left alone -------------------------------------------------------------


def test_the_gitops_repository_itself_is_not_onboarded(world: World) -> None:
    world.install(GITOPS)
    world.add(GITOPS.upper())
    assert world.github.calls == []
    assert world.remotes[GITOPS].branches() == ["main"]


def test_removing_the_app_touches_nothing(world: World, shop: Remote) -> None:
    world.install(APP)
    gitops = world.remotes[GITOPS]
    before = (gitops.branches(), gitops.head(), gitops.head(GITOPS_BRANCH), shop.branches())
    calls = len(world.github.calls)
    world.deliver("installation_repositories", "removed", repositories_removed=repos(APP))
    world.deliver("installation", "deleted", repositories=repos(APP))
    assert len(world.github.calls) == calls
    after = (gitops.branches(), gitops.head(), gitops.head(GITOPS_BRANCH), shop.branches())
    assert after == before
    removals = [s for s in world.summaries() if s.startswith("App removed from")]
    assert (
        removals
        == [
            f"App removed from {APP}; the GitOps repository is left as it is",
        ]
        * 2
    )


def test_one_failing_repository_does_not_stop_the_others(world: World, shop: Remote) -> None:
    with pytest.raises(PermanentError, match=r"failed for 1 of 2 repositories \(acme/gone\)"):
        world.install("acme/gone", APP)  # the first one is unknown to GitHub
    assert len(world.github.open_pulls(APP)) == 1


def test_every_failing_repository_is_recorded_and_named(world: World, shop: Remote) -> None:
    with pytest.raises(PermanentError) as raised:
        world.install("acme/gone", APP, "acme/lost")
    message = str(raised.value)
    assert message.startswith("onboarding failed for 2 of 3 repositories (acme/gone, acme/lost)")
    assert "acme/gone: NotFound: GitHub answered 404" in message
    assert "acme/lost: NotFound: GitHub answered 404" in message
    assert isinstance(raised.value.__cause__, NotFound)
    failed = [e for e in world.ctx.audit.entries() if " failed: " in e.summary]
    assert [(e.summary.split(" failed")[0], e.details["repository"]) for e in failed] == [
        ("onboarding acme/gone", "acme/gone"),
        ("onboarding acme/lost", "acme/lost"),
    ]
    assert len(world.github.open_pulls(APP)) == 1


def test_a_transient_failure_makes_the_delivery_retry_and_the_retry_redoes_what_failed(
    world: World, shop: Remote
) -> None:
    notes = world.add_repo("acme/notes-api", fixture_files(FASTAPI_APP))
    # The first repository's pull request fails once: GitHub is having a bad moment.
    world.github.fail("open_or_update_pr", TransientError("GitHub answered 502", retry_after=7))
    with pytest.raises(TransientError, match=r"failed for 2 of 3 repositories") as raised:
        world.install(APP, "acme/gone", "acme/notes-api")
    assert raised.value.retry_after == 7
    assert f"{APP}: TransientError: GitHub answered 502" in str(raised.value)
    assert "acme/gone: NotFound" in str(raised.value)
    assert world.github.open_pulls(APP) == []
    assert len(world.github.open_pulls("acme/notes-api")) == 1
    first = notes.head(APP_BRANCH)

    with pytest.raises(PermanentError, match=r"failed for 1 of 3 repositories \(acme/gone\)"):
        world.install(APP, "acme/gone", "acme/notes-api")  # the queue's retry
    assert len(world.github.open_pulls(APP)) == len(world.github.open_pulls("acme/notes-api")) == 1
    assert notes.head(APP_BRANCH) == first


def test_a_bug_in_one_repository_does_not_stop_the_others(world: World, shop: Remote) -> None:
    world.add_repo("acme/notes-api", fixture_files(FASTAPI_APP))
    world.github.fail("repo", KeyError("head"))  # the first repository read meets a bug
    with pytest.raises(RuntimeError, match=r"failed for 1 of 2 repositories \(acme/notes-api\)"):
        world.install("acme/notes-api", APP)
    assert len(world.github.open_pulls(APP)) == 1


def test_a_broken_gitops_repository_is_the_operators_problem(world: World, shop: Remote) -> None:
    world.remotes[GITOPS].commit({"autostack.yaml": "environments: 3\n"}, "break the config")
    with pytest.raises(
        PermanentError, match=r"repository acme/gitops: autostack\.yaml: "
    ) as raised:
        world.install(APP)
    assert "autostack-export" not in str(raised.value)
    assert world.github.called("open_or_update_issue") == []
    assert world.github.called("open_or_update_pr") == []


# -- end to end: the sandbox GitHub sends signed webhooks to the bot -----------------------------

FASTAPI_FILES = {
    "app.py": (
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        '@app.get("/healthz")\ndef healthz() -> dict[str, str]:\n    return {"status": "ok"}\n'
    ),
    "requirements.txt": "fastapi==0.115.6\nuvicorn==0.34.0\n",
}


def test_installing_the_app_opens_the_onboarding_pull_requests_end_to_end(
    tmp_path: Path,
) -> None:
    from sandbox.testbed import Testbed

    with Testbed(tmp_path / "bed") as bed:
        bed.start_github()
        bed.create_gitops()
        bed.create_repo("shop", FASTAPI_FILES)
        bed.create_repo("notes", {"README.md": "# Notes\n"})
        bed.start_bot(on_start=(), workers=1)
        token = bed.user("watcher")
        for repo in ("shop", "notes", bed.gitops_name):
            bed.user("watcher", repo=repo, permission="read")
        api = httpx.Client(
            base_url=bed.github_url, headers={"Authorization": f"token {token}"}, timeout=30
        )

        def get(path: str) -> Any:
            response = api.get(f"/repos/acme/{path}")
            response.raise_for_status()
            return response.json()

        installation = bed.install(["shop", "notes", bed.gitops_name])
        bed.settle(timeout=60)

        [app_pr] = get("shop/pulls?state=open")
        assert (app_pr["title"], app_pr["head"]["ref"]) == (
            "Set up AutoStack deployments",
            APP_BRANCH,
        )
        assert "HTTP GET `/healthz`" in app_pr["body"]
        [gitops_pr] = get("gitops/pulls?state=open")
        assert (gitops_pr["title"], gitops_pr["head"]["ref"]) == (
            "Onboard shop",
            "autostack/onboard-shop",
        )
        assert gitops_pr["html_url"] in app_pr["body"]
        files = {f["filename"] for f in get(f"gitops/pulls/{gitops_pr['number']}/files")}
        assert {"argocd/apps/shop-dev.yaml", "apps/shop/overlays/prod/kustomization.yaml"} <= files
        files = {f["filename"] for f in get(f"shop/pulls/{app_pr['number']}/files")}
        assert files == APP_FILES | {APP_CONFIG_FILE}
        [issue] = [i for i in get("notes/issues?state=open") if "pull_request" not in i]
        assert issue["title"] == "AutoStack could not set up this repository"
        assert get("notes/pulls?state=open") == []

        # Removed and added again: the same pull requests and branches, nothing new.
        heads = {b["name"]: b["commit"]["sha"] for b in get("gitops/branches")}
        path = f"/installations/{installation}/repositories"
        bed.control("POST", path, {"remove": ["shop"]})
        bed.control("POST", path, {"add": ["shop"]})
        bed.settle(timeout=60)
        assert [p["number"] for p in get("shop/pulls?state=open")] == [app_pr["number"]]
        assert [p["number"] for p in get("gitops/pulls?state=open")] == [gitops_pr["number"]]
        assert {b["name"]: b["commit"]["sha"] for b in get("gitops/branches")} == heads
        api.close()
