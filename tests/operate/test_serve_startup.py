"""``autostack serve`` refuses to start with one line that says what to fix, exit status 2
and no traceback: a busy port, an unreadable or malformed private key, a database that
does not answer. The checks themselves are unit-tested for the cases in between."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from bot import startup
from bot.settings import Settings
from sandbox.processes import autostack_argv, clean_environment
from sandbox.serving import free_port


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder that root without its override capabilities can still traverse."""
    with tempfile.TemporaryDirectory(prefix="autostack-startup-") as name:
        os.chmod(name, 0o755)
        yield Path(name)


def environment(workdir: Path, key: str, **extra: str) -> dict[str, str]:
    key_file = workdir / "app.pem"
    key_file.write_text(key)
    return {
        "AUTOSTACK_GITHUB_APP_ID": "1",
        "AUTOSTACK_GITHUB_PRIVATE_KEY_FILE": str(key_file),
        "AUTOSTACK_WEBHOOK_SECRET": "webhook-secret-value",
        "AUTOSTACK_GITOPS_REPO": "acme/gitops",
        "AUTOSTACK_DATA_DIR": str(workdir / "data"),
        **extra,
    }


def serve(
    env: dict[str, str], port: int, *, wrapper: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wrapper, *autostack_argv("serve", "--port", str(port), "--no-setup")],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        check=False,
    )


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("autostack serve cannot start: ")
    return lines[0]


def test_busy_port(workdir: Path, rsa_pem: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_refusal(serve(environment(workdir, rsa_pem), port))
    assert f"port {port} is already in use on 127.0.0.1" in line
    assert "--port" in line


def test_malformed_inline_key_names_its_variable(workdir: Path) -> None:
    env = environment(workdir, "")
    del env["AUTOSTACK_GITHUB_PRIVATE_KEY_FILE"]
    env["AUTOSTACK_GITHUB_PRIVATE_KEY"] = "-----BEGIN RSA PRIVATE KEY-----\ngarbage\n"
    line = one_line_refusal(serve(env, free_port()))
    assert "AUTOSTACK_GITHUB_PRIVATE_KEY is not a PEM private key" in line
    assert "garbage" not in line


def test_unreadable_key_file_names_its_variable(workdir: Path, rsa_pem: str) -> None:
    env = environment(workdir, rsa_pem)
    os.chmod(env["AUTOSTACK_GITHUB_PRIVATE_KEY_FILE"], 0o000)
    # root reads any file: run it without the capabilities that let it.
    wrapper: tuple[str, ...] = ()
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")  # util-linux, essential on Debian
        assert setpriv is not None, "as root, setpriv is needed to drop the read override"
        wrapper = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    line = one_line_refusal(serve(env, free_port(), wrapper=wrapper))
    assert "AUTOSTACK_GITHUB_PRIVATE_KEY_FILE: cannot read" in line
    assert "Permission denied" in line and "readable" in line


def test_unreachable_database(workdir: Path, rsa_pem: str) -> None:
    closed = free_port()  # nothing listens there
    url = f"postgresql+psycopg://autostack:db-password-value@127.0.0.1:{closed}/autostack"
    env = environment(workdir, rsa_pem, AUTOSTACK_DATABASE_URL=url)
    line = one_line_refusal(serve(env, free_port()))
    assert f"cannot use the database postgresql+psycopg://autostack:***@127.0.0.1:{closed}" in line
    assert "AUTOSTACK_DATABASE_URL" in line
    assert "db-password-value" not in line


# -- the checks, in process -------------------------------------------------------------------


def settings_with_key(tmp_path: Path, text: str, *, as_file: bool) -> Settings:
    if as_file:
        path = tmp_path / "key.pem"
        path.write_text(text)
        return Settings(github_private_key_file=path)
    return Settings(github_private_key=SecretStr(text))


@pytest.mark.parametrize("as_file", [False, True])
def test_a_good_key_passes(tmp_path: Path, rsa_pem: str, as_file: bool) -> None:
    startup.check_private_key(settings_with_key(tmp_path, rsa_pem, as_file=as_file))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: "not a key", "is not a PEM private key"),
        (lambda: pem(ec.generate_private_key(ec.SECP256R1())), "is not an RSA key"),
        (
            lambda: pem(rsa.generate_private_key(65537, 1024), b"passphrase"),
            "is encrypted with a passphrase",
        ),
    ],
    ids=["garbage", "ec", "encrypted"],
)
def test_bad_keys(tmp_path: Path, make: object, problem: str) -> None:
    text = make()  # type: ignore[operator]
    with pytest.raises(startup.StartupProblem) as inline:
        startup.check_private_key(settings_with_key(tmp_path, text, as_file=False))
    assert str(inline.value).startswith(f"AUTOSTACK_GITHUB_PRIVATE_KEY {problem}")
    with pytest.raises(startup.StartupProblem) as from_file:
        startup.check_private_key(settings_with_key(tmp_path, text, as_file=True))
    assert str(from_file.value).startswith(f"AUTOSTACK_GITHUB_PRIVATE_KEY_FILE {problem}")


def test_a_binary_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(startup.StartupProblem, match="_FILE is not a PEM private key"):
        startup.check_private_key(Settings(github_private_key_file=path))


def test_a_stored_key_names_where_it_is_stored(tmp_path: Path) -> None:
    stored = tmp_path / "secrets" / "app-credentials.json"
    with pytest.raises(startup.StartupProblem, match=r"the private key stored in .*app-cred"):
        startup.check_private_key(
            Settings(github_private_key=SecretStr("nonsense")), stored_in=stored
        )


def test_database_checks(tmp_path: Path) -> None:
    startup.check_database(Settings(data_dir=tmp_path / "data"))  # SQLite, created
    with pytest.raises(startup.StartupProblem, match="is not a database URL"):
        startup.check_database(Settings(database_url=SecretStr("nonsense")))
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(startup.StartupProblem, match="cannot create the folder"):
        startup.check_database(Settings(database_url=SecretStr(f"sqlite:///{blocked}/sub/x.db")))


@pytest.mark.postgres
def test_database_check_names_the_servers_reason() -> None:
    url = "postgresql+psycopg://no-such-role@127.0.0.1:5432/test"
    with pytest.raises(startup.StartupProblem, match='role "no-such-role" does not exist'):
        startup.check_database(Settings(database_url=SecretStr(url)))


def test_bind_problems() -> None:
    with startup.bind("127.0.0.1", 0) as first:
        port = first.getsockname()[1]
        first.listen()
        with pytest.raises(startup.StartupProblem, match=f"port {port} is already in use"):
            startup.bind("127.0.0.1", port)
    with pytest.raises(startup.StartupProblem, match="is not an address of this machine"):
        startup.bind("host.invalid", 0)
