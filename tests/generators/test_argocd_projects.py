"""The GitOps repository's own safety: what a merged pull request can make Argo CD do.

The root app-of-apps may create Application objects only (no AppProject: projects are
applied by hand), and every Application the generator writes is confined by its
environment's project to the GitOps repository and to that environment's namespaces."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generators.config import Environment, GitOpsConfig, app_namespace
from generators.errors import GeneratorError
from generators.gitops import app_files
from generators.skeleton import skeleton_files
from generators.templating import render
from tests.support.gitops_cases import REPO_URL, SPECS
from tests.support.k8s import load_documents, validate_argocd

Obj = dict[str, Any]
CONFIGS = {
    "defaults": GitOpsConfig(repo_url=REPO_URL),
    "custom": GitOpsConfig(
        repo_url="git@github.com:acme/gitops.git",
        environments=(Environment("qa"), Environment("live", replicas=2)),
        argocd_namespace="gitops",
        destination_server="https://apps.example.com:6443",
    ),
}


def repository(config: GitOpsConfig) -> dict[str, bytes]:
    """A new GitOps repository for ``config`` with every sample app generated into it."""
    files = skeleton_files(
        config.repo_url,
        config.environments,
        argocd_namespace=config.argocd_namespace,
        destination_server=config.destination_server,
    )
    for spec in SPECS.values():  # replicas name the default environments
        files.update(app_files(replace(spec, replicas={}), config, files.get))
    return files


def objects(files: dict[str, bytes], prefix: str = "argocd/") -> Iterator[tuple[str, Obj]]:
    for path, content in sorted(files.items()):
        if path.startswith(prefix) and path.endswith(".yaml"):
            for obj in load_documents(content.decode()):
                yield path, obj


def of_kind(files: dict[str, bytes], kind: str) -> list[Obj]:
    return [obj for _, obj in objects(files) if obj["kind"] == kind]


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def case(request: pytest.FixtureRequest) -> tuple[GitOpsConfig, dict[str, bytes]]:
    config = CONFIGS[request.param]
    return config, repository(config)


def test_every_argocd_object_matches_its_crd(case: tuple[GitOpsConfig, dict[str, bytes]]) -> None:
    for _, obj in objects(case[1]):
        validate_argocd(obj)


def test_no_project_whitelists_projects_or_wildcards(
    case: tuple[GitOpsConfig, dict[str, bytes]],
) -> None:
    projects = of_kind(case[1], "AppProject")
    assert len(projects) == len(case[0].environments) + 1
    for project in projects:
        spec = project["spec"]
        for key in ("namespaceResourceWhitelist", "clusterResourceWhitelist"):
            kinds = {(item["group"], item["kind"]) for item in spec.get(key, [])}
            assert ("argoproj.io", "AppProject") not in kinds, project["metadata"]["name"]
            assert ("argoproj.io", "ApplicationSet") not in kinds
            assert not any("*" in group or "*" in kind for group, kind in kinds)
        assert "namespaceResourceBlacklist" not in spec  # a blacklist admits everything else
        assert "clusterResourceBlacklist" not in spec
        assert spec["sourceRepos"] == [case[0].repo_url]


def test_the_root_project_manages_applications_in_argo_cds_namespace_only(
    case: tuple[GitOpsConfig, dict[str, bytes]],
) -> None:
    config, files = case
    project, root = load_documents(files["argocd/root.yaml"].decode())
    assert project["metadata"]["name"] == root["spec"]["project"] == "autostack"
    assert project["spec"]["namespaceResourceWhitelist"] == [
        {"group": "argoproj.io", "kind": "Application"}
    ]
    assert project["spec"]["clusterResourceWhitelist"] == []
    assert project["spec"]["destinations"] == [
        {"server": "https://kubernetes.default.svc", "namespace": config.argocd_namespace}
    ]
    assert root["spec"]["source"]["path"] == "argocd/apps"
    assert root["spec"]["source"]["directory"] == {"recurse": False, "include": "*.yaml"}


def test_what_the_root_syncs_holds_applications_only(
    case: tuple[GitOpsConfig, dict[str, bytes]],
) -> None:
    synced = list(objects(case[1], "argocd/apps/"))
    assert synced
    assert {obj["kind"] for _, obj in synced} == {"Application"}
    assert all(path.count("/") == 2 for path, _ in synced)  # no recursion needed


def test_environment_projects_admit_their_own_namespaces_only(
    case: tuple[GitOpsConfig, dict[str, bytes]],
) -> None:
    config, files = case
    projects = {p["metadata"]["name"]: p for p in of_kind(files, "AppProject")}
    for env in config.environments:
        spec = projects[f"autostack-{env.name}"]["spec"]
        assert spec["destinations"] == [
            {"server": config.destination_server, "namespace": f"*-{env.name}"}
        ]
        assert spec["clusterResourceWhitelist"] == [
            {"group": "", "kind": "Namespace", "name": f"*-{env.name}"}
        ]
        patterns = [d["namespace"] for d in spec["destinations"]]
        assert not any(fnmatch.fnmatchcase(config.argocd_namespace, p) for p in patterns)
        for other in config.environments:
            if other != env:
                namespace = app_namespace("shop", other.name)
                assert not any(fnmatch.fnmatchcase(namespace, p) for p in patterns)


def test_every_application_stays_inside_its_project(
    case: tuple[GitOpsConfig, dict[str, bytes]],
) -> None:
    config, files = case
    projects = {p["metadata"]["name"]: p["spec"] for p in of_kind(files, "AppProject")}
    apps = [a for a in of_kind(files, "Application") if a["metadata"]["name"] != "autostack"]
    assert len(apps) == len(SPECS) * len(config.environments)
    for app in apps:
        spec, env = app["spec"], app["metadata"]["labels"]["autostack.dev/env"]
        assert spec["project"] == f"autostack-{env}"
        project = projects[spec["project"]]
        assert spec["source"]["repoURL"] in project["sourceRepos"] == [config.repo_url]
        destination = spec["destination"]
        assert destination["namespace"] != config.argocd_namespace
        assert any(
            destination["server"] == allowed["server"]
            and fnmatch.fnmatchcase(destination["namespace"], allowed["namespace"])
            for allowed in project["destinations"]
        )
        assert spec["source"]["path"].startswith("apps/")


LABEL = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True)


@given(envs=st.lists(LABEL, min_size=1, max_size=4, unique=True), apps=st.lists(LABEL))
def test_no_project_admits_another_environments_namespaces(
    envs: list[str], apps: list[str]
) -> None:
    environments = tuple(Environment(name) for name in envs)
    try:
        files = skeleton_files(REPO_URL, environments)
    except GeneratorError:
        return  # a clash the config check refuses, such as prod and eu-prod
    for env in envs:
        project = load_documents(files[f"argocd/projects/autostack-{env}.yaml"].decode())[0]
        patterns = [d["namespace"] for d in project["spec"]["destinations"]]
        assert not any(fnmatch.fnmatchcase("argocd", p) for p in patterns)
        for other in envs:
            for app in [*apps, "shop"]:
                admitted = any(fnmatch.fnmatchcase(app_namespace(app, other), p) for p in patterns)
                assert admitted == (other == env), (app, other, env)


def test_the_onboarding_pull_request_says_a_new_project_is_applied_by_hand() -> None:
    def body(files: list[str]) -> str:
        return render(
            "bot/onboarding-gitops-pr.md.j2",
            app="shop",
            source="acme/shop",
            rows=[],
            files=files,
            placeholder="not-deployed",
        )

    base = ["`apps/shop/base/deployment.yaml` (created)"]
    assert "kubectl apply" not in body(base)
    with_project = body([*base, "`argocd/projects/autostack-qa.yaml` (created)"])
    assert with_project.count("kubectl apply -f argocd/projects/") == 1
