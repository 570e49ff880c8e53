"""YAML from a repository is read with bounds: alias bombs, huge or deep documents and
values that cannot be built are one-line refusals, reached quickly and in little memory,
by every reader (app config, GitOps config, overlays, Spring's application.yml)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generators import initrepo, overlay, yamlio
from generators.appconfig import parse_app_config
from generators.config import parse_config
from generators.detect import detect
from generators.errors import GeneratorError
from generators.pipeline import load_gitops_config
from generators.source import SourceTree
from tests.generators.generate_support import REPO_URL

AUTOSTACK = [sys.executable, "-m", "bot.cli"]
FAST = 0.5  # seconds: a refusal comes from measuring a few dozen nodes
SMALL = 16 << 20  # bytes of peak allocation while refusing


def nested_bomb(levels: int, width: int = 9) -> str:
    """Billion laughs in flow style, one anchor per level, each level ``width`` aliases of
    the one before: a couple of hundred bytes that expand to ``width ** levels`` scalars."""
    text = "&l0 [" + ",".join(["lol"] * width) + "]"
    for level in range(1, levels):
        aliases = ",".join([f"*l{level - 1}"] * (width - 1))
        text = f"&l{level} [{text},{aliases}]"
    return text


BOMB = nested_bomb(6)  # 9**6: over half a million scalars; its repr is nearly 4 MB
SMALL_BOMB = nested_bomb(5)  # 9**5: some 60,000 scalars, still far past what aliases may add
BOMBS = {
    "name": f"name: {BOMB}\n",
    "cpu": f"resources:\n  requests:\n    cpu: {BOMB}\n",
    "env": f"env:\n  A: {BOMB}\n",
    "command": f"command: {BOMB}\n",
    "small name": f"name: {SMALL_BOMB}\n",
    "small cpu": f"resources:\n  requests:\n    cpu: {SMALL_BOMB}\n",
}


def refusal(call: Callable[[], Any]) -> tuple[GeneratorError, float, int]:
    """The GeneratorError ``call`` raises, how long it took and the peak allocation."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(GeneratorError) as caught:
            call()
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500, message[:1000]
    return caught.value, elapsed, peak


def test_the_bomb_is_small_and_explosive() -> None:
    assert len(f"name: {BOMB}\n".encode()) < 260
    # What the unbounded loader made of it: a value whose repr is megabytes.
    assert len(repr(yamlio._Loader(BOMB).get_single_data())) > 3_500_000


@pytest.mark.parametrize("where", sorted(BOMBS))
def test_an_alias_bomb_in_the_app_config_is_refused_quickly(where: str) -> None:
    error, elapsed, peak = refusal(
        lambda: parse_app_config(BOMBS[where], "app/.github/autostack.yml")
    )
    assert str(error) == (
        "app/.github/autostack.yml: YAML aliases expand too far (over 10000 nodes)"
    )
    assert elapsed < FAST and peak < SMALL


def test_the_gitops_config_refuses_the_bomb() -> None:
    text = f"repo_url: {REPO_URL}\nenvironments:\n  - name: dev\n    replicas: {BOMB}\n"
    error, elapsed, peak = refusal(lambda: parse_config(text, "gitops/autostack.yaml"))
    assert "gitops/autostack.yaml: YAML aliases expand too far" in str(error)
    assert elapsed < FAST and peak < SMALL


OVERLAY_BOMB = (
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    f"labels: {BOMB}\nimages:\n  - name: web\n    newName: ghcr.io/acme/web\n    newTag: a\n"
)
OVERLAY_READERS: dict[str, Callable[[], Any]] = {
    "get_image": lambda: overlay.get_image(OVERLAY_BOMB, "web", "k.yaml"),
    "set_image": lambda: overlay.set_image(OVERLAY_BOMB, "web", "ghcr.io/acme/web", "b", "k.yaml"),
    "components": lambda: overlay.components(OVERLAY_BOMB, "k.yaml"),
    "load_round_trip": lambda: overlay.load_round_trip(OVERLAY_BOMB, "k.yaml"),
    "ensure_managed": lambda: overlay.ensure_managed(
        OVERLAY_BOMB,
        app="web",
        namespace="web-dev",
        new_name="ghcr.io/acme/web",
        ingress_host=None,
        path="k.yaml",
    ),
}


@pytest.mark.parametrize("reader", sorted(OVERLAY_READERS))
def test_every_overlay_reader_refuses_the_bomb(reader: str) -> None:
    error, elapsed, peak = refusal(OVERLAY_READERS[reader])
    assert str(error) == "k.yaml: YAML aliases expand too far (over 10000 nodes)"
    assert elapsed < FAST and peak < SMALL


def test_spring_application_yml_with_the_bomb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pom.xml").write_text(
        "<project><artifactId>x</artifactId><parent><artifactId>spring-boot-starter-parent"
        "</artifactId><version>3.3.0</version></parent>"
        "<properties><java.version>21</java.version></properties></project>\n"
    )
    resources = tmp_path / "src/main/resources"
    resources.mkdir(parents=True)
    (resources / "application.yml").write_text(f"server:\n  port: 8080\nspring: {BOMB}\n")
    error, elapsed, peak = refusal(lambda: detect(SourceTree(tmp_path)))
    assert str(error).endswith("application.yml: YAML aliases expand too far (over 10000 nodes)")
    assert elapsed < 5 and peak < SMALL  # the whole detection, not only the YAML


def test_the_plain_loaders_the_bot_uses_raise_a_yaml_error() -> None:
    for load in (yamlio.safe_load, yamlio.safe_load_all):
        with pytest.raises(yamlio.YAMLError, match="aliases expand too far"):
            load(f"a: {BOMB}\n")


def test_the_generate_command_refuses_the_bomb_in_bounded_time_and_memory(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    (app / ".github").mkdir(parents=True)
    (app / "index.html").write_text("<h1>hi</h1>\n")
    (app / ".github/autostack.yml").write_text(BOMBS["cpu"])
    gitops = tmp_path / "gitops"
    initrepo.init_repository(gitops, repo_url=REPO_URL)

    def cap_memory() -> None:  # an unbounded expansion dies here instead of in the kernel
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    result = subprocess.run(
        [*AUTOSTACK, "generate", str(app), "--gitops", str(gitops), "--registry", "ghcr.io/a"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap_memory,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == (
        f"autostack: error: {app}/.github/autostack.yml: YAML aliases expand too far "
        "(over 10000 nodes)"
    )
    assert not (app / "Dockerfile").exists()


def test_the_gitops_config_file_is_read_with_the_same_bounds(tmp_path: Path) -> None:
    initrepo.init_repository(tmp_path, repo_url=REPO_URL)
    (tmp_path / "autostack.yaml").write_text(f"repo_url: {REPO_URL}\nextra: {BOMB}\n")
    with pytest.raises(GeneratorError, match=r"autostack\.yaml: YAML aliases expand too far"):
        load_gitops_config(tmp_path)


# -- the other limits ---------------------------------------------------------------------


def test_anchors_that_spare_repetition_still_work() -> None:
    text = (
        f"repo_url: {REPO_URL}\n"
        "defaults: &strict {require_approval: true, require_checks: true}\n"
        "environments:\n" + "".join(f"  - name: env{i}\n    <<: *strict\n" for i in range(30))
    )
    config = parse_config(text)
    assert len(config.environments) == 30
    assert all(env.require_approval for env in config.environments)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [1, *a]\n", "has a YAML alias inside the node it names"),
        ("a: &a {b: *a}\n", "has a YAML alias inside the node it names"),
        ("a: " + "[" * 150 + "]" * 150 + "\n", "nests YAML too deeply (limit 100 levels)"),
        (
            "".join(" " * (2 * i) + f"k{i}:\n" for i in range(150)) + " " * 300 + "x\n",
            "nests YAML too deeply (limit 100 levels)",
        ),
        ("a: " + "x" * (1 << 20) + "\n", "is too large for a YAML file (limit 1048576 bytes)"),
        ("a: " + "é" * 600_000 + "\n", "is too large for a YAML file"),
        ("a: " + "9" * 5000 + "\n", "malformed YAML: "),
        ("a: 2001-13-45\n", "malformed YAML: "),
        ("a: [\n", "malformed YAML: "),
    ],
    ids=[
        "self-alias",
        "self-alias-map",
        "deep-flow",
        "deep-block",
        "large",
        "large-utf8",
        "huge-int",
        "bad-date",
        "malformed",
    ],
)
def test_every_loader_refuses_in_one_line(text: str, message: str) -> None:
    loaders: list[Callable[[str, str], Any]] = [
        yamlio.load,
        yamlio.load_all,
        yamlio.round_trip_load,
    ]
    if message != "malformed YAML: ":  # composing builds no values, so it finds no bad one
        loaders.append(yamlio.round_trip_compose)
    for load in loaders:
        started = time.perf_counter()
        with pytest.raises(GeneratorError) as caught:
            load(text, "f.yaml")
        assert str(caught.value).startswith(f"f.yaml: {message}"), (load, str(caught.value))
        assert "\n" not in str(caught.value)
        assert time.perf_counter() - started < 10


def test_the_number_of_nodes_is_limited() -> None:
    limits = yamlio.Limits(max_nodes=1000)
    text = "a: [" + ",".join(["1"] * 997) + "]\n"  # 1000 nodes with the map, key and list
    assert len(yamlio.load(text, "f.yaml", limits)["a"]) == 997
    text = text.replace("[", "[1,")
    with pytest.raises(GeneratorError, match=r"^f.yaml: has too many YAML nodes \(limit 1000\)$"):
        yamlio.load(text, "f.yaml", limits)
    with pytest.raises(GeneratorError, match=r"^f.yaml: has too many YAML nodes \(limit 1000\)$"):
        yamlio.round_trip_load(text, "f.yaml", yamlio.round_trip_yaml(limits))


def test_reading_is_given_a_deadline() -> None:
    ticks = iter(range(1000))
    slow = yamlio.Limits(max_seconds=5, clock=lambda: 10.0 * next(ticks))
    with pytest.raises(GeneratorError, match="takes too long to read as YAML"):
        yamlio.load("a: 1\n", "f.yaml", slow)
    ticks = iter(range(1000))
    slow = yamlio.Limits(max_seconds=5, clock=lambda: 10.0 * next(ticks))
    text = "a: [" + ",".join(["1"] * 600) + "]\n"
    with pytest.raises(GeneratorError, match="takes too long to read as YAML"):
        yamlio.round_trip_load(text, "f.yaml", yamlio.round_trip_yaml(slow))


def test_aliases_to_long_text_are_bounded_too() -> None:
    text = "a: &a " + "x" * 400_000 + "\nb: [" + ",".join(["*a"] * 8) + "]\n"
    with pytest.raises(GeneratorError, match=r"YAML aliases expand too far \(over 2097152 char"):
        yamlio.load(text, "f.yaml")


# -- values are bounded by validation -----------------------------------------------------

HUGE = "x" * 900_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"name: {HUGE}\n", "name: app name 'xxx"),
        (f"resources:\n  requests:\n    cpu: {HUGE}\n", "requests.cpu: is longer than 32"),
        ("resources:\n  requests:\n    cpu: [1, 2]\n", "must be a quantity such as 250m"),
        ("resources:\n  limits:\n    memory: lots\n", "'lots' is not a Kubernetes quantity"),
        (f"health_path: /{HUGE}\n", "health_path: is longer than 1024 characters"),
        (f"path: {HUGE}\n", "path: is longer than 1024 characters"),
        (f"env:\n  A: {HUGE}\n", "env.A: is longer than 8192 characters"),
        (f"command: [{HUGE}]\n", "command: is longer than 4096 characters"),
        ("command: [" + ",".join(["a"] * 65) + "]\n", "command: has more than 64 words"),
        ("replicas: 100000\n", "replicas: must be a number from 0 to 1000"),
        (f"port: {json.dumps(HUGE)}\n", "port: must be a int, got 'xxxx"),
    ],
    ids=lambda v: v[:24] if isinstance(v, str) else v,
)
def test_oversized_values_are_refused_with_a_short_message(text: str, message: str) -> None:
    error, elapsed, _ = refusal(lambda: parse_app_config(text, "a.yml"))
    assert message in str(error)
    assert elapsed < FAST


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("default_branch: " + "m" * 3000, "default_branch: must be one line of at most 2048"),
        ('default_branch: "main\\nx"', "default_branch: must be one line"),
        ("argocd: {namespace: Argo CD}", "argocd.namespace: 'Argo CD' is not a namespace name"),
        ("argocd: {namespace: argocd-prod}", "so the 'prod' project would let apps deploy"),
        (
            "environments: [{name: dev, timeout_minutes: 99999999}]",
            "environments[0].timeout_minutes: must be from 1 to 10080",
        ),
        (
            "environments: [{name: dev, replicas: 5000}]",
            "environments[0].replicas: must be from 0 to 1000",
        ),
        ("environments: [{name: dev, 1: x, b: y}]", "environments[0]: unknown key '1'"),
    ],
)
def test_gitops_settings_are_bounded(settings: str, message: str) -> None:
    with pytest.raises(GeneratorError) as caught:
        parse_config(f"repo_url: {REPO_URL}\n{settings}\n", "autostack.yaml")
    assert message in str(caught.value)


def test_an_error_message_is_one_short_line_whatever_it_quotes() -> None:
    error = GeneratorError("f.yml", "bad value: " + "x\n" * 100_000, hint="y" * 10_000)
    assert "\n" not in str(error) and len(str(error)) < 1000
