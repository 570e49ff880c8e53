"""``autostack doctor`` against the sandbox GitHub and Argo CD as processes: a good
configuration passes every check; each broken part is one line with its fix, exit 1."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from sqlalchemy import text

from bot import doctor
from bot.settings import Settings
from bot.store import Store, make_engine
from sandbox.processes import autostack_argv, clean_environment
from sandbox.serving import free_port
from sandbox.testbed import Testbed
from tests.e2e.conftest import APP_FILES

CHECKS = [
    "private key",
    "github app",
    "gitops repository",
    "webhook secret",
    "argo cd",
    "database",
    "kubectl",
]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    """The sandboxes as processes, an onboarded app whose Applications Argo CD shows, the
    App installed, and the bot's SQLite database migrated (as a first serve leaves it)."""
    with Testbed(tmp_path_factory.mktemp("doctor")) as testbed:
        testbed.start_sandbox_process()
        testbed.onboard("shop", APP_FILES)
        testbed.install(["shop", testbed.gitops_name])
        token = testbed.sandbox_env["AUTOSTACK_ARGOCD_TOKEN"]

        def shop_applications() -> list[object]:
            answer = httpx.get(
                f"{testbed.argocd_url}/api/v1/applications",
                params={"selector": "autostack.dev/app"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            return list(answer.json().get("items") or [])

        testbed.wait_for("Argo CD to show shop's Applications", shop_applications, timeout=60)
        store = Store.open(f"sqlite:///{testbed.data_dir / 'bot' / 'autostack.db'}")
        store.migrate()
        store.dispose()
        yield testbed


def environment(bed: Testbed, **changes: str) -> dict[str, str]:
    return {**bed.sandbox_env, "AUTOSTACK_DATA_DIR": str(bed.data_dir / "bot"), **changes}


def run_doctor(env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Exit status and each check's line (by check name) of ``autostack doctor``."""
    result = subprocess.run(
        autostack_argv("doctor"),
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    by_check = {name: line for line in lines for name in CHECKS if line[9:].startswith(name)}
    assert list(by_check) == CHECKS and len(lines) == len(CHECKS), result.stdout
    return result.returncode, by_check


def test_a_good_configuration_passes_every_check(bed: Testbed) -> None:
    code, lines = run_doctor(environment(bed))
    assert code == 0, "\n".join(lines.values())
    assert all(line.startswith("ok ") for line in lines.values())
    assert "accepts App" in lines["github app"]
    assert "installed on acme/gitops" in lines["gitops repository"]
    assert "lets it get the " in lines["argo cd"]
    assert "is migrated" in lines["database"]


def test_a_broken_configuration_says_what_to_fix(bed: Testbed) -> None:
    closed = free_port()
    code, lines = run_doctor(
        environment(
            bed,
            AUTOSTACK_GITOPS_REPO="acme/elsewhere",
            AUTOSTACK_WEBHOOK_SECRET="",
            AUTOSTACK_ARGOCD_TOKEN="not-the-token",
            AUTOSTACK_DATABASE_URL=f"postgresql+psycopg://autostack:pw@127.0.0.1:{closed}/db",
            PATH="/nonexistent",
        )
    )
    assert code == 1
    assert lines["private key"].startswith("ok ") and lines["github app"].startswith("ok ")
    for check in ("gitops repository", "webhook secret", "argo cd", "database", "kubectl"):
        assert lines[check].startswith("problem "), lines[check]
    assert "not installed on acme/elsewhere" in lines["gitops repository"]
    assert "fix: install the App on acme/elsewhere" in lines["gitops repository"]
    assert "AUTOSTACK_WEBHOOK_SECRET is not set" in lines["webhook secret"]
    assert "401" in lines["argo cd"] and "AUTOSTACK_ARGOCD_TOKEN" in lines["argo cd"]
    assert "not-the-token" not in lines["argo cd"]
    database, kubectl = lines["database"], lines["kubectl"]
    assert "Connection refused" in database and "AUTOSTACK_DATABASE_URL" in database
    assert "kubectl is not on PATH" in kubectl and "fix: install kubectl" in kubectl


def test_a_key_of_another_app(bed: Testbed, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    settings = Settings(
        github_api_url=bed.github_url,
        github_app_id=int(bed.sandbox_env["AUTOSTACK_GITHUB_APP_ID"]),
        github_private_key=SecretStr(pem.decode()),
        gitops_repo="acme/gitops",
        data_dir=tmp_path,
    )
    app, installation = doctor.github_checks(settings, stored=False)[1:]
    assert app.status == "problem" and "401" in app.detail
    assert "AUTOSTACK_GITHUB_APP_ID and the private key" in app.fix
    assert installation.status == "skipped"


def test_github_unreachable(tmp_path: Path, bed: Testbed) -> None:
    settings = Settings(
        github_api_url=f"http://127.0.0.1:{free_port()}",
        github_app_id=1,
        github_private_key_file=Path(bed.sandbox_env["AUTOSTACK_GITHUB_PRIVATE_KEY_FILE"]),
        data_dir=tmp_path,
    )
    app = doctor.github_checks(settings, stored=False)[1]
    assert app.status == "problem" and "could not reach GitHub" in app.detail
    assert "AUTOSTACK_GITHUB_API_URL" in app.fix


def test_nothing_configured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No network is asked; every missing setting is named; no database file is created."""
    assert doctor.run(Settings(data_dir=tmp_path / "data")) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CHECKS)
    key, app, gitops, secret, argocd, database = lines[:6]
    assert "neither AUTOSTACK_GITHUB_PRIVATE_KEY nor AUTOSTACK_GITHUB_PRIVATE_KEY_FILE" in key
    assert "AUTOSTACK_GITHUB_APP_ID is not set" in app
    assert gitops.startswith("skipped ")
    assert "AUTOSTACK_WEBHOOK_SECRET is not set" in secret
    assert "AUTOSTACK_ARGOCD_URL and AUTOSTACK_ARGOCD_TOKEN are not set" in argocd
    assert "does not exist yet" in database and "autostack serve" in database
    assert not (tmp_path / "data").exists()


def test_database_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    settings = Settings(database_url=SecretStr(url), data_dir=tmp_path)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE unrelated (id INTEGER)"))
    finding = doctor.database_check(settings)
    assert finding.status == "problem" and "revision none, not " in finding.detail
    assert "autostack serve" in finding.fix
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('9999_from_the_future')"))
    engine.dispose()
    finding = doctor.database_check(settings)
    assert "9999_from_the_future, which this AutoStack does not know" in finding.detail
