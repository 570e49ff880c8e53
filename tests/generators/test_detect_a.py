"""Stack detection for Python, Node.js, Deno, static sites and existing Dockerfiles:
every example app matches its hand-written expected.json, plus precedence and bad input."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from generators.detect import detect
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"
PREFIXES = ("python-", "node-", "deno-", "static-", "docker-")
EXAMPLES = sorted(p.name for p in APPS.iterdir() if p.name.startswith(PREFIXES))
FIELDS = (
    "language",
    "framework",
    "package_manager",
    "runtime_version",
    "start_command",
    "port",
    "health_path",
    "migrate_command",
)


def summary(stack: Stack) -> dict[str, object]:
    values = {name: getattr(stack, name) for name in FIELDS}
    for name in ("start_command", "migrate_command"):
        if values[name] is not None:
            values[name] = list(values[name])
    return values


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def detect_files(tmp_path: Path, files: dict[str, str]) -> Stack:
    return detect(SourceTree(write(tmp_path, files)))


def test_every_stack_has_an_example() -> None:
    for prefix in PREFIXES:
        assert any(name.startswith(prefix) for name in EXAMPLES), prefix


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_matches_expected(name: str) -> None:
    expected = json.loads((APPS / name / "expected.json").read_text())
    stack = detect(SourceTree(APPS / name))
    assert summary(stack) == {k: expected[k] for k in FIELDS}
    assert stack.evidence, "detection must say why"
    assert all("\n" not in line for line in stack.evidence)


# --- Python -----------------------------------------------------------------------------

FLASK_APP = {"web.py": "from flask import Flask\n\nsite = Flask(__name__)\n"}


def test_python_lockfile_picks_the_manager_over_requirements(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            **FLASK_APP,
            "requirements.txt": "flask==3.1.0\n",
            "pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.12"\nflask = "*"\n',
            "poetry.lock": '[metadata]\nlock-version = "2.1"\n',
        },
    )
    assert stack.package_manager == "poetry"
    assert "poetry.lock -> poetry" in stack.evidence


def test_python_version_file_beats_manifests(tmp_path: Path) -> None:
    files = {
        **FLASK_APP,
        "requirements.txt": "flask==3.1.0\n",
        "runtime.txt": "python-3.11.7\n",
        ".tool-versions": "python 3.10.2\n",
        ".python-version": "3.13.1\n",
    }
    assert detect_files(tmp_path, files).runtime_version == "3.13.1"
    (tmp_path / ".python-version").unlink()
    stack = detect(SourceTree(tmp_path))
    assert (stack.runtime_version, stack.version_source) == ("3.11.7", "runtime.txt")
    (tmp_path / "runtime.txt").unlink()
    stack = detect(SourceTree(tmp_path))
    assert (stack.runtime_version, stack.version_source) == ("3.10.2", ".tool-versions")


def test_python_procfile_web_beats_the_detected_app(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            **FLASK_APP,
            "requirements.txt": "flask==3.1.0\ngunicorn==23.0.0\n",
            "Procfile": "web: gunicorn web:site --workers 3 --bind 0.0.0.0:${PORT:-5000}\n",
        },
    )
    assert stack.start_command == (
        "gunicorn",
        "web:site",
        "--workers",
        "3",
        "--bind",
        "0.0.0.0:5000",
    )
    assert stack.port == 5000


def test_python_framework_beats_plain_entry_script(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {"main.py": "print('cli')\n", **FLASK_APP, "requirements.txt": "flask\ngunicorn\n"},
    )
    assert stack.framework == "flask"
    assert stack.start_command[:2] == ("gunicorn", "web:site")


def test_python_shell_procfile_runs_under_sh(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {**FLASK_APP, "requirements.txt": "flask\n", "Procfile": "web: cd src && python app.py\n"},
    )
    assert stack.start_command == ("sh", "-c", "cd src && python app.py")


def test_fastapi_without_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="no ASGI server"):
        detect_files(
            tmp_path,
            {
                "requirements.txt": "fastapi==0.115.6\n",
                "main.py": "from fastapi import FastAPI\napp = FastAPI()\n",
            },
        )


def test_poetry_without_lockfile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError) as info:
        detect_files(tmp_path, {**FLASK_APP, "pyproject.toml": "[tool.poetry]\nname = 'x'\n"})
    assert "pyproject.toml" in str(info.value) and "poetry lock" in str(info.value)


def test_python_without_entry_point_lists_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match=r"main\.py") as info:
        detect_files(tmp_path, {"requirements.txt": "requests\n", "lib/util.py": "X = 1\n"})
    assert "\n" not in str(info.value)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "bad"),
    [
        ({"pyproject.toml": "[project\nname = 'x'\n"}, "pyproject.toml"),
        ({"requirements.txt": "flask\n", "Pipfile": "[packages\n"}, "Pipfile"),
        ({"requirements.txt": "-r missing.txt\n"}, "missing.txt"),
        ({"requirements.txt": "flask\n", "Procfile": "web gunicorn app:app\n"}, "Procfile"),
    ],
)
def test_malformed_manifest_names_the_file(tmp_path: Path, files: dict[str, str], bad: str) -> None:
    with pytest.raises(GeneratorError) as info:
        detect_files(tmp_path, files)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(os.path.join(str(tmp_path), bad) + ": ")


# --- Node.js ------------------------------------------------------------------------------


def package(**fields: object) -> str:
    return json.dumps({"name": "app", **fields})


def test_node_procfile_beats_scripts_start(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "package.json": package(scripts={"start": "node index.js"}),
            "index.js": "require('http').createServer().listen(3000)\n",
            "Procfile": "web: node --max-old-space-size=256 dist/server.js --port $PORT\n",
        },
    )
    assert stack.start_command == (
        "node",
        "--max-old-space-size=256",
        "dist/server.js",
        "--port",
        "3000",
    )


def test_node_lockfile_picks_the_manager(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "package.json": package(packageManager="yarn@4.5.3", scripts={"start": "node a.js"}),
            "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        },
    )
    assert stack.package_manager == "pnpm"
    assert "pnpm install --frozen-lockfile" in stack.options["install"]


def test_node_framework_beats_plain_server(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "package.json": package(
                dependencies={"next": "15.1.0"}, scripts={"build": "next build"}
            ),
            "index.js": "console.log('not the server')\n",
        },
    )
    assert (stack.framework, stack.start_command, stack.port) == ("nextjs", ("next", "start"), 3000)


def test_node_version_precedence(tmp_path: Path) -> None:
    files = {
        "package.json": package(engines={"node": ">=18"}, scripts={"start": "node a.js"}),
        ".tool-versions": "nodejs 21.7.3\n",
        ".node-version": "20.9.0\n",
        ".nvmrc": "v22.11.0\n",
    }
    assert detect_files(tmp_path, files).runtime_version == "22.11.0"
    (tmp_path / ".nvmrc").unlink()
    assert detect(SourceTree(tmp_path)).runtime_version == "20.9.0"
    (tmp_path / ".node-version").unlink()
    stack = detect(SourceTree(tmp_path))
    assert (stack.runtime_version, stack.version_source) == ("18", "package.json engines.node")


def test_node_start_script_port_and_env_prefix(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "package.json": package(
                scripts={"start": "NODE_OPTIONS=--enable-source-maps next start -p 4000"},
                dependencies={"next": "15"},
            )
        },
    )
    assert stack.port == 4000
    assert stack.start_command[:2] == ("sh", "-c")


def test_node_without_start_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match=r"scripts\.start") as info:
        detect_files(tmp_path, {"package.json": package(dependencies={"lodash": "4"})})
    assert str(info.value).startswith(str(tmp_path / "package.json"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "app",', "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"scripts": ["start"]}', "'scripts' must be an object"),
    ],
)
def test_malformed_package_json(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(GeneratorError) as info:
        detect_files(tmp_path, {"package.json": text})
    assert str(info.value).startswith(f"{tmp_path / 'package.json'}: {problem}")


# --- Deno, static sites, existing Dockerfiles ---------------------------------------------


def test_deno_beats_node_and_jsonc_comments_are_read(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "package.json": package(scripts={"start": "node a.js"}),
            "deno.jsonc": '// config\n{"tasks": {"start": "deno run -A srv.ts --port=9001"},}\n',
        },
    )
    assert (stack.language, stack.port) == ("deno", 9001)
    assert stack.start_command == ("deno", "run", "-A", "srv.ts", "--port=9001")


def test_malformed_deno_jsonc_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError) as info:
        detect_files(tmp_path, {"deno.jsonc": '{"tasks": {/* open\n'})
    assert str(info.value).startswith(f"{tmp_path / 'deno.jsonc'}: malformed JSONC")


def test_static_site_in_public(tmp_path: Path) -> None:
    stack = detect_files(tmp_path, {"public/index.html": "<h1>x</h1>\n"})
    assert (stack.language, stack.options["docroot"]) == ("static", "public")


def test_dockerfile_without_expose_keeps_the_detected_port(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "package.json": package(scripts={"start": "node server.js --port 4100"}),
            "Dockerfile": "FROM node:22\nCOPY . .\n",
        },
    )
    assert (stack.language, stack.template, stack.port) == ("node", "existing", 4100)
    assert stack.start_command == ("node", "server.js", "--port", "4100")
    assert "found Dockerfile: it is kept as it is" in stack.evidence


def test_dockerfile_rescues_an_app_detection_cannot_start(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "requirements.txt": "requests\n",
            "Dockerfile": 'FROM python:3.12-slim\nEXPOSE 7000\nCMD ["python", "-m", "worker"]\n',
        },
    )
    assert (stack.language, stack.template, stack.port) == ("python", "existing", 7000)
    assert stack.start_command == ("python", "-m", "worker")


def test_dockerfile_does_not_hide_malformed_manifests(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="malformed JSON"):
        detect_files(tmp_path, {"package.json": "{", "Dockerfile": "FROM node:22\n"})


def test_unknown_stack_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError) as info:
        detect_files(tmp_path, {"notes.txt": "hello\n"})
    message = str(info.value)
    assert "\n" not in message and "package.json" in message and ".github/autostack.yml" in message
