"""AutoStack as its users run it: ``autostack sandbox up`` and ``autostack serve`` as child
processes, configured only through the documented ``AUTOSTACK_*`` settings and the
sandbox's ``autostack.env``, talking over loopback.

The demo and the end-to-end tests start the bot here, so what they check is the command
the README, the container image and ``deploy/`` run; nothing reaches into the bot's
memory. Each child's output goes to a log file next to its data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx


class ProcessError(RuntimeError):
    """A child process did not start, or died, as it should not have."""


def autostack_argv(*args: str) -> list[str]:
    """The ``autostack`` console script installed next to this Python, with ``args``."""
    script = Path(sys.executable).with_name("autostack")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-m", "bot.cli", *args]


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``AUTOSTACK_*`` setting, plus ``extra``:
    a child sees exactly the settings it is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSTACK_")}
    env.update(extra or {})
    return env


class Child:
    """One child process; its standard output and error go to ``log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path | None = None,
        user: int | None = None,
    ):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.user = user
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, f"{self.name} was not started"
        return self._process.pid

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user is not None else None,
                start_new_session=True,  # Ctrl-C in a terminal reaches the parent only
            )
        return self

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise ProcessError(
                f"{self.name} exited with status {self._process.returncode}:\n{self.tail()}"
            )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, as a terminal's Ctrl-C or Kubernetes would, then SIGKILL after
        ``timeout``; returns the exit status."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        return self._process.returncode

    def kill(self) -> None:
        """SIGKILL: the process stops wherever it is, as on a node failure."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def wait_for_file(path: Path, child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        child.check_alive()
        if time.monotonic() > deadline:
            raise ProcessError(f"{child.name} wrote no {path.name} in {timeout:.0f}s")
        time.sleep(0.05)


def wait_until_ready(url: str, child: Child, timeout: float = 60.0) -> dict[str, object]:
    """Poll ``url/readyz`` until it answers 200; the last answer names what is failing."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        child.check_alive()
        try:
            answer = httpx.get(f"{url}/readyz", timeout=5.0)
            if answer.status_code == 200:
                return dict(answer.json())
            last = f"{answer.status_code} {answer.text}"
        except httpx.TransportError as exc:
            last = type(exc).__name__
        if time.monotonic() > deadline:
            raise ProcessError(f"{child.name} not ready in {timeout:.0f}s: {last}\n{child.tail()}")
        time.sleep(0.1)


def queue_depth(metrics_text: str) -> dict[str, float]:
    """``autostack_queue_depth`` by state, from a ``/metrics`` page."""
    depth: dict[str, float] = {}
    prefix = 'autostack_queue_depth{state="'
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line.partition("} ")
            depth[labels[len(prefix) : -1]] = float(value)
    return depth
