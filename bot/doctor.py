"""``autostack doctor``: checks a configuration end to end, one line per check, each
problem with how to fix it.

It asks what ``serve`` will ask, through the same adapters: GitHub through
``GitHubAdapter`` (the App's JWT on ``GET /app``, then the installation on the GitOps
repository), Argo CD through ``ArgoCD`` (the token, then listing and getting the
Applications AutoStack manages), the database through ``bot.startup`` and Alembic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot import setup_flow, startup
from bot.adapters.argocd import ArgoCD, RetryPolicy
from bot.adapters.clock import SystemClock
from bot.adapters.github.adapter import GitHubAdapter
from bot.core.errors import AutostackError
from bot.ports import NotFound
from bot.services import APP_LABEL
from bot.settings import ENV_PREFIX, Settings
from bot.store import MIGRATIONS_DIR, make_engine

Status = Literal["ok", "problem", "skipped"]


@dataclass(frozen=True)
class Finding:
    """What one check found; ``fix`` says what to do about a problem."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix else ""
        return f"{self.status:8} {self.check:18} {self.detail}{fix}"


def ok(check: str, detail: str) -> Finding:
    return Finding(check, "ok", detail)


def problem(check: str, detail: str, fix: str = "") -> Finding:
    return Finding(check, "problem", detail, fix)


def from_error(check: str, error: AutostackError, fix: str) -> Finding:
    """A problem from an adapter's error: its own hint is the better fix when it has one."""
    return problem(check, error.message, error.hint or fix)


def run(settings: Settings, out: Callable[[str], None] = print) -> int:
    """Print one line per check; 1 when any found a problem, else 0."""
    configured = setup_flow.with_stored_credentials(settings)
    stored = configured is not settings
    findings = [
        *github_checks(configured, stored),
        webhook_secret_check(configured, stored),
        argocd_check(configured),
        database_check(configured),
        kubectl_check(),
    ]
    for finding in findings:
        out(finding.line())
    return 1 if any(f.status == "problem" for f in findings) else 0


# -- GitHub ----------------------------------------------------------------------------------

KEY, APP, GITOPS = "private key", "github app", "gitops repository"


def github_checks(settings: Settings, stored: bool) -> list[Finding]:
    """The key parses, GitHub accepts the App's JWT, and the App is installed on the GitOps
    repository and can read it. A check that needs a failed one is skipped."""
    key = key_check(settings, setup_flow.credentials_path(settings.data_dir) if stored else None)
    if settings.github_app_id is None:
        app = problem(
            APP,
            f"{ENV_PREFIX}GITHUB_APP_ID is not set",
            "set it to the App ID on its settings page",
        )
        return [key, app, _skipped(GITOPS, APP)]
    if key.status != "ok":
        return [key, _skipped(APP, KEY), _skipped(GITOPS, KEY)]
    github = GitHubAdapter.from_settings(settings, SystemClock())
    try:
        github.check_credentials()
    except AutostackError as exc:
        reach = f"check {ENV_PREFIX}GITHUB_API_URL ({settings.github_api_url}) and the network"
        return [key, from_error(APP, exc, reach), _skipped(GITOPS, APP)]
    accepted = ok(APP, f"GitHub at {settings.github_api_url} accepts App {settings.github_app_id}")
    return [key, accepted, gitops_check(github, settings)]


def key_check(settings: Settings, stored_in: Path | None) -> Finding:
    if settings.github_private_key is None and settings.github_private_key_file is None:
        variable = f"{ENV_PREFIX}GITHUB_PRIVATE_KEY"
        return problem(
            KEY,
            f"neither {variable} nor {variable}_FILE is set",
            "set one to the App's private key (the .pem from the App's settings page)",
        )
    try:
        startup.check_private_key(settings, stored_in=stored_in)
    except startup.StartupProblem as exc:
        return problem(KEY, str(exc))
    return ok(KEY, f"{_key_source(settings, stored_in)} is an RSA private key")


def gitops_check(github: GitHubAdapter, settings: Settings) -> Finding:
    repo = settings.gitops_repo
    if not repo:
        return problem(
            GITOPS,
            f"{ENV_PREFIX}GITOPS_REPO is not set",
            "set it to OWNER/NAME of the GitOps repository that autostack init made",
        )
    install = (
        f"install the App on {repo} (on GitHub: the App's settings, Install App, or the "
        f"organisation's Settings, GitHub Apps, Configure)"
    )
    try:
        github.installation_token(repo)
        info = github.repo(repo)
    except NotFound:
        return problem(GITOPS, f"the App is not installed on {repo}, or it does not exist", install)
    except AutostackError as exc:
        return from_error(GITOPS, exc, install)
    return ok(GITOPS, f"the App is installed on {repo} and reads it (branch {info.default_branch})")


def _key_source(settings: Settings, stored_in: Path | None) -> str:
    if stored_in is not None:
        return f"the key stored in {stored_in}"
    if settings.github_private_key_file is not None:
        return f"{ENV_PREFIX}GITHUB_PRIVATE_KEY_FILE ({settings.github_private_key_file})"
    return f"{ENV_PREFIX}GITHUB_PRIVATE_KEY"


def _skipped(check: str, needs: str) -> Finding:
    return Finding(check, "skipped", f"needs the {needs} check to pass first")


def webhook_secret_check(settings: Settings, stored: bool) -> Finding:
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if secret:
        where = " (stored by the setup flow)" if stored else ""
        return ok("webhook secret", f"{ENV_PREFIX}WEBHOOK_SECRET is set{where}")
    return problem(
        "webhook secret",
        f"{ENV_PREFIX}WEBHOOK_SECRET is not set, so serve refuses to start",
        "set it to the App's webhook secret (or a new random one, in the App's settings too)",
    )


# -- Argo CD ---------------------------------------------------------------------------------

ARGOCD = "argo cd"
RBAC_FIX = (
    "give the token's account 'applications, get' on the AutoStack apps in argocd-rbac-cm "
    "(README: Connecting Argo CD)"
)


def argocd_check(settings: Settings) -> Finding:
    """Argo CD answers, accepts the token, and lets it list and get AutoStack's
    Applications (listing alone says nothing: Argo CD leaves out what a role cannot get)."""
    token = settings.argocd_token.get_secret_value() if settings.argocd_token else ""
    missing = [
        f"{ENV_PREFIX}{name}"
        for name, value in (("ARGOCD_URL", settings.argocd_url), ("ARGOCD_TOKEN", token))
        if not value
    ]
    if missing:
        return problem(
            ARGOCD,
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
            f"deployments would not be followed",
            "set them (README: Connecting Argo CD)",
        )
    client = ArgoCD.from_settings(
        settings, SystemClock(), retry=RetryPolicy(attempts=1), read_timeout=10.0
    )
    assert client is not None
    reach = f"check {ENV_PREFIX}ARGOCD_URL ({settings.argocd_url}) and the network"
    with client:
        try:
            client.check_ready()
        except AutostackError as exc:
            return from_error(ARGOCD, exc, reach)
        try:
            apps = client.list_applications(selector=APP_LABEL)
            if apps:
                client.get_application(apps[0].name)
        except AutostackError as exc:
            return from_error(ARGOCD, exc, RBAC_FIX)
    at = f"Argo CD at {settings.argocd_url} accepts the token"
    if not apps:
        return ok(ARGOCD, f"{at}; it sees no AutoStack Applications yet (none onboarded?)")
    return ok(ARGOCD, f"{at} and lets it get the {len(apps)} AutoStack Applications")


# -- the database and tools ------------------------------------------------------------------

DATABASE = "database"
MIGRATE_FIX = "start autostack serve once: it applies the migrations when it starts"


def database_check(settings: Settings) -> Finding:
    """The database answers and its schema is at this version's newest migration."""
    url = settings.database_url.get_secret_value()
    shown = settings.database_url_for_display
    if _missing_sqlite_file(url):
        return problem(DATABASE, f"the SQLite database {shown} does not exist yet", MIGRATE_FIX)
    try:
        startup.check_database(settings)
    except startup.StartupProblem as exc:
        return problem(DATABASE, str(exc))
    current, head = _revisions(url)
    if current == head:
        return ok(DATABASE, f"{shown} answers and is migrated (revision {head})")
    if current is not None and not _known_revision(current):
        return problem(
            DATABASE,
            f"{shown} is at revision {current}, which this AutoStack does not know",
            "run the newer AutoStack version that migrated it",
        )
    return problem(DATABASE, f"{shown} is at revision {current or 'none'}, not {head}", MIGRATE_FIX)


def _missing_sqlite_file(url: str) -> bool:
    """Connecting would create it: a check must not leave an empty database behind."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # check_database names the bad URL
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return False
    return not Path(database).is_file()


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def _revisions(url: str) -> tuple[str | None, str | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return current, _scripts().get_current_head()


def _known_revision(revision: str) -> bool:
    return any(script.revision == revision for script in _scripts().walk_revisions())


def kubectl_check() -> Finding:
    found = shutil.which("kubectl")
    if found:
        return ok("kubectl", f"kubectl is {found}")
    return problem(
        "kubectl",
        "kubectl is not on PATH (AutoStack renders Kustomize overlays with kubectl kustomize)",
        "install kubectl: https://kubernetes.io/docs/tasks/tools/",
    )
