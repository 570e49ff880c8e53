"""``autostack --version`` and shell completion, run as the installed console script."""

from __future__ import annotations

import subprocess
from importlib.metadata import version

import pytest

from sandbox.processes import autostack_argv, clean_environment


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        autostack_argv(*args),
        capture_output=True,
        text=True,
        env=clean_environment(env),
        timeout=60,
        check=False,
    )


def test_version_is_the_installed_distributions() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"autostack {version('autostack')}\n"


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F _autostack_completion autostack"),
        ("zsh", "#compdef autostack"),
        ("fish", "complete --command autostack"),
    ],
)
def test_show_completion_prints_the_named_shells_script(shell: str, marker: str) -> None:
    result = run("--show-completion", shell)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_AUTOSTACK_COMPLETE" in result.stdout


def test_the_completion_script_completes_commands_and_options() -> None:
    # What the bash script asks the program when Tab is pressed.
    commands = run(env={"_AUTOSTACK_COMPLETE": "complete_bash", "COMP_WORDS": "autostack se",
                        "COMP_CWORD": "1"})  # fmt: skip
    assert commands.stdout.split() == ["serve"]
    options = run(env={"_AUTOSTACK_COMPLETE": "complete_bash",
                       "COMP_WORDS": "autostack serve --po", "COMP_CWORD": "2"})  # fmt: skip
    assert options.stdout.split() == ["--port"]


def test_help_lists_version_and_completion() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in result.stdout
