"""``autostack init``'s files: a commented autostack.yaml that parses back to the same
config, a root app-of-apps and restrictive AppProjects that match Argo CD's CRDs."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from generators.config import DEFAULT_ENVIRONMENTS, Environment, GitOpsConfig, parse_config
from generators.errors import GeneratorError
from generators.gitops import app_files
from generators.skeleton import skeleton_files
from generators.templating import GENERATED_MARK
from tests.support.gitops_cases import REPO_URL, SPECS, nothing, write_tree
from tests.support.k8s import load_documents, render_overlay, validate_argocd

ENVS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return skeleton_files(REPO_URL)


def test_the_skeleton_has_the_documented_layout(files: dict[str, bytes]) -> None:
    assert sorted(files) == [
        ".gitignore",
        "README.md",
        "apps/.gitkeep",
        "argocd/apps/.gitkeep",
        "argocd/projects/autostack-dev.yaml",
        "argocd/projects/autostack-prod.yaml",
        "argocd/projects/autostack-staging.yaml",
        "argocd/root.yaml",
        "autostack.yaml",
    ]
    # Nothing in a new repository is generator-owned: the user may edit all of it.
    assert not any(GENERATED_MARK.encode() in content for content in files.values())


def test_autostack_yaml_parses_back_to_the_same_config(files: dict[str, bytes]) -> None:
    assert parse_config(files["autostack.yaml"].decode()) == GitOpsConfig(repo_url=REPO_URL)
    custom = skeleton_files(
        "git@github.com:acme/gitops.git",
        (Environment("qa", landing="direct"), Environment("live", replicas=3)),
        default_branch="trunk",
        argocd_namespace="gitops",
        ingress_domain="apps.example.com",
        ingress_class="nginx",
    )
    config = parse_config(custom["autostack.yaml"].decode())
    assert config.environment_names == ("qa", "live")
    assert config.environment("qa") == Environment("qa", landing="direct")
    assert (config.default_branch, config.argocd_namespace) == ("trunk", "gitops")
    assert (config.ingress_domain, config.ingress_class) == ("apps.example.com", "nginx")


def test_every_policy_key_is_shown_with_a_comment(files: dict[str, bytes]) -> None:
    lines = files["autostack.yaml"].decode().splitlines()
    for field in fields(Environment):
        if field.name == "name":
            continue
        at = [i for i, line in enumerate(lines) if re.match(rf"^\s+{field.name}: ", line)]
        assert len(at) == len(DEFAULT_ENVIRONMENTS), field.name
        assert all(lines[i - 1].lstrip().startswith("#") for i in at), field.name


def test_argocd_objects_match_the_crds(files: dict[str, bytes]) -> None:
    kinds = []
    for path, content in files.items():
        if path.startswith("argocd/") and path.endswith(".yaml"):
            for obj in load_documents(content.decode()):
                validate_argocd(obj)
                kinds.append((obj["kind"], obj["metadata"]["name"]))
    assert sorted(kinds) == [
        ("AppProject", "autostack"),
        ("AppProject", "autostack-dev"),
        ("AppProject", "autostack-prod"),
        ("AppProject", "autostack-staging"),
        ("Application", "autostack"),
    ]


@pytest.mark.parametrize("env", ENVS)
def test_environment_projects_are_restrictive(files: dict[str, bytes], env: str) -> None:
    project = yaml.safe_load(files[f"argocd/projects/autostack-{env}.yaml"])
    spec = project["spec"]
    assert spec["sourceRepos"] == [REPO_URL]
    assert spec["destinations"] == [
        {"server": "https://kubernetes.default.svc", "namespace": f"*-{env}"}
    ]
    assert spec["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": f"*-{env}"}
    ]
    assert spec["orphanedResources"] == {"warn": True}
    allowed = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
    assert ("rbac.authorization.k8s.io", "RoleBinding") not in allowed
    assert ("", "ResourceQuota") not in allowed


def test_projects_admit_every_kind_an_app_renders(files: dict[str, bytes], tmp_path: Path) -> None:
    write_tree(tmp_path, app_files(SPECS["shop"], GitOpsConfig(repo_url=REPO_URL), nothing))
    project = yaml.safe_load(files["argocd/projects/autostack-prod.yaml"])
    allowed = {k["kind"] for k in project["spec"]["namespaceResourceWhitelist"]}
    objects = render_overlay(tmp_path / "apps/shop/overlays/prod")
    assert {o["kind"] for o in objects} <= allowed
    namespace = objects[0]["metadata"]["namespace"]
    assert fnmatch.fnmatchcase(namespace, project["spec"]["destinations"][0]["namespace"])


def test_root_app_of_apps(files: dict[str, bytes]) -> None:
    project, root = load_documents(files["argocd/root.yaml"].decode())
    assert project["spec"]["sourceRepos"] == [REPO_URL]
    assert project["spec"]["destinations"] == [
        {"server": "https://kubernetes.default.svc", "namespace": "argocd"}
    ]
    assert project["spec"]["clusterResourceWhitelist"] == []
    assert project["spec"]["namespaceResourceWhitelist"] == [
        {"group": "argoproj.io", "kind": "Application"}
    ]
    assert root["spec"]["project"] == project["metadata"]["name"]
    assert "finalizers" not in root["metadata"]  # deleting the root never deletes the apps
    source = root["spec"]["source"]
    assert (source["repoURL"], source["targetRevision"], source["path"]) == (
        REPO_URL,
        "main",
        "argocd/apps",
    )
    assert root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_root_syncs_the_applications_only(files: dict[str, bytes]) -> None:
    root = load_documents(files["argocd/root.yaml"].decode())[1]
    source = root["spec"]["source"]
    assert source["directory"] == {"recurse": False, "include": "*.yaml"}
    generated = app_files(SPECS["web"], GitOpsConfig(repo_url=REPO_URL), nothing)
    folder = source["path"] + "/"

    def synced(path: str) -> bool:
        rel = path.removeprefix(folder)
        return path.startswith(folder) and "/" not in rel and fnmatch.fnmatchcase(rel, "*.yaml")

    # Neither the projects nor the root itself: those are applied by hand.
    assert [p for p in sorted({*files, *generated}) if synced(p)] == [
        p for p in sorted(generated) if p.startswith("argocd/apps/")
    ]


def test_readme_explains_the_layout(files: dict[str, bytes]) -> None:
    readme = files["README.md"].decode()
    for words in ("apps/<app>/overlays/<env>/", "argocd/root.yaml", "kubectl apply", REPO_URL):
        assert words in readme


def test_same_input_gives_byte_identical_output(files: dict[str, bytes]) -> None:
    assert skeleton_files(REPO_URL) == files


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((" ",), "repo_url: must name the URL"),
        ((REPO_URL, ()), "environments: at least one environment"),
        ((REPO_URL, (Environment("prod"), Environment("eu-prod"))), "ends with '-prod'"),
        ((REPO_URL, (Environment("dev"), Environment("dev"))), "duplicate name 'dev'"),
    ],
)
def test_bad_skeleton_input(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(GeneratorError, match=re.escape(message)):
        skeleton_files(*args)  # type: ignore[arg-type]


def test_autostack_yaml_rejects_namespace_clashes() -> None:
    text = f"repo_url: {REPO_URL}\nenvironments:\n  - name: prod\n  - name: eu-prod\n"
    with pytest.raises(GeneratorError, match=r"autostack\.yaml: environments: 'eu-prod' ends with"):
        parse_config(text)
