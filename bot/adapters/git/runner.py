"""Runs the ``git`` CLI for the adapter: no shell, a clean environment, a timeout per call,
stderr captured and scrubbed before it reaches an exception.

Credentials: the token comes from ``token_provider()`` at each network call and reaches git
only through the ``AUTOSTACK_GIT_TOKEN`` environment variable of that one process, read by
a small ``GIT_ASKPASS`` script when the server asks for it. So it is never in argv, never in
a remote URL or ``.git/config``, and, because every credential helper is switched off, never
stored by git either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.adapters.git.parsing import classify, scrub
from bot.core.errors import AutostackError, TransientError

TOKEN_ENV = "AUTOSTACK_GIT_TOKEN"
TOKEN_USER = "x-access-token"  # GitHub's user name for installation tokens
ASKPASS_SCRIPT = f"""#!/bin/sh
# git's credential prompt for AutoStack: the user name, or the token from the environment.
case "$1" in
  Username*) printf '%s\\n' '{TOKEN_USER}' ;;
  *) printf '%s\\n' "${TOKEN_ENV}" ;;
esac
"""
# Passed through from our own environment; everything else (GIT_TRACE, GIT_DIR, a user's
# global config, signing keys) is left out so git behaves the same everywhere.
PASSTHROUGH = (
    "PATH",
    "HOME",
    "TMPDIR",
    "SYSTEMROOT",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
)
# ``git -c`` equivalents given through the environment (argv stays short and boring).
CONFIG = (
    ("credential.helper", ""),  # the empty value clears every configured helper
    ("commit.gpgSign", "false"),
    ("core.autocrlf", "false"),
    ("core.hooksPath", "/dev/null"),  # a hook in the cache could do anything
    ("advice.detachedHead", "false"),
    ("pull.rebase", "false"),
    ("gc.autoDetach", "false"),
)
DEFAULT_TIMEOUT = 60.0
KEEP_SECRETS = 4

RunFunction = Callable[..., "subprocess.CompletedProcess[bytes]"]


@dataclass(frozen=True)
class Identity:
    """Who the bot's commits are by; GitHub shows ``name[bot]`` emails as the App."""

    name: str = "AutoStack"
    email: str = "autostack[bot]@users.noreply.github.com"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: str  # already scrubbed

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


class GitRunner:
    """Runs git in one directory with the adapter's environment; ``run`` is injectable so
    tests can see every argv."""

    def __init__(
        self,
        askpass_dir: Path,
        token_provider: Callable[[], str],
        *,
        identity: Identity | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        run: RunFunction | None = None,
        extra_env: Mapping[str, str] | None = None,
        label: str = "",
    ):
        self._askpass = _install_askpass(askpass_dir)
        self._token_provider = token_provider
        self.identity = identity or Identity()
        self.timeout = timeout
        self._run = run or run_in_own_group
        self._extra_env = dict(extra_env or {})
        self._label = f"{label}: " if label else ""  # which repository, for the operator
        self._secrets: list[str] = []  # every token handed out, to scrub from any output

    def git(
        self,
        cwd: Path,
        *args: str,
        what: str,
        network: bool = False,
        input: bytes | None = None,
        check: bool = True,
    ) -> Result:
        """Run ``git args`` in ``cwd``; with ``check`` a non-zero exit raises the taxonomy
        error for ``what`` (the operation, in words)."""
        what = f"{self._label}{what}"
        env = self._env(network)
        try:
            done = self._run(
                ["git", *args],
                cwd=cwd,
                env=env,
                input=input,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            # ``from None``: TimeoutExpired carries argv and output, which stay out of logs.
            raise TransientError(f"{what} timed out after {self.timeout:.0f}s") from None
        except OSError as exc:
            raise TransientError(f"{what} could not run git: {exc.strerror or exc}") from None
        stderr = scrub(done.stderr.decode("utf-8", "replace"), self._secrets)
        result = Result(done.returncode, done.stdout, stderr)
        if check and done.returncode != 0:
            raise classify(what, done.stderr.decode("utf-8", "replace"), self._secrets)
        return result

    def error(self, what: str, stderr: str) -> AutostackError:
        """The taxonomy error for ``what`` failing with (already scrubbed) ``stderr``."""
        return classify(f"{self._label}{what}", stderr, self._secrets)

    def _env(self, network: bool) -> dict[str, str]:
        env = {key: os.environ[key] for key in PASSTHROUGH if key in os.environ}
        env.update(
            LC_ALL="C",  # git's messages in English, which ``classify`` reads
            GIT_TERMINAL_PROMPT="0",
            GIT_LITERAL_PATHSPECS="1",  # a path is a path, never ":(glob)" pathspec magic
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_ASKPASS=str(self._askpass),
            GIT_AUTHOR_NAME=self.identity.name,
            GIT_AUTHOR_EMAIL=self.identity.email,
            GIT_COMMITTER_NAME=self.identity.name,
            GIT_COMMITTER_EMAIL=self.identity.email,
            GIT_CONFIG_COUNT=str(len(CONFIG)),
        )
        for index, (key, value) in enumerate(CONFIG):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        env.update(self._extra_env)
        if network:
            token = self._token_provider()
            if token and token not in self._secrets:
                # Tokens rotate hourly; the last few are enough to scrub late output.
                self._secrets = [*self._secrets[-(KEEP_SECRETS - 1) :], token]
            env[TOKEN_ENV] = token
        return env


def _install_askpass(directory: Path) -> Path:
    """Write the askpass script once; it holds no secret, only where to find one. Its path
    is absolute: git runs it from inside the repositories, not from here."""
    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "git-askpass.sh"
    if not path.is_file() or path.read_text() != ASKPASS_SCRIPT:
        fd, temporary = tempfile.mkstemp(prefix=".git-askpass.", dir=directory)
        with os.fdopen(fd, "w") as fh:
            fh.write(ASKPASS_SCRIPT)
        os.chmod(temporary, 0o700)
        os.replace(temporary, path)  # atomic, so a concurrent git never runs half a script
    return path


def run_in_own_group(
    argv: list[str], *, input: bytes | None = None, timeout: float | None = None, **options: Any
) -> subprocess.CompletedProcess[bytes]:
    """``subprocess.run`` that, on timeout, kills git together with its helpers (a hung
    ``git-remote-https`` or server-side hook would otherwise outlive it)."""
    options.pop("check", None)
    if input is not None:
        options["stdin"] = subprocess.PIPE
    with subprocess.Popen(argv, start_new_session=True, **options) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
