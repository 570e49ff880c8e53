"""``autostack generate``: from an app directory to change sets for the app repo and the
GitOps repo. Everything is computed and validated before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from generators import changeset
from generators.appconfig import APP_CONFIG_FILE, parse_app_config
from generators.changeset import ChangeSet, ReadExisting
from generators.config import CONFIG_FILE, GitOpsConfig, parse_config
from generators.detect import detect
from generators.dockerfile import dockerfile, dockerignore
from generators.errors import GeneratorError
from generators.gitops import app_files
from generators.model import AppConfig, AppSpec, Resources, Stack
from generators.naming import derive_app_name, validate_app_name
from generators.paths import read_text_contained, relative_path
from generators.source import SourceTree
from generators.workflow import WORKFLOW_PATH, build_workflow, image_repository


@dataclass(frozen=True)
class GenerateRequest:
    app_dir: Path
    gitops_dir: Path
    registry: str
    name: str | None = None
    path: str | None = None  # source subdirectory, overriding .github/autostack.yml
    source_repo: str | None = None  # owner/name, when known


@dataclass(frozen=True)
class GenerateResult:
    stack: Stack
    spec: AppSpec
    app_changes: ChangeSet
    gitops_changes: ChangeSet

    @property
    def empty(self) -> bool:
        return self.app_changes.empty and self.gitops_changes.empty

    def diff(self) -> str:
        return self.app_changes.diff() + self.gitops_changes.diff()

    def apply(self) -> None:
        # Both sets are fully staged before either is renamed into place.
        self.app_changes.apply()
        self.gitops_changes.apply()


def load_gitops_config(gitops_dir: Path) -> GitOpsConfig:
    if not gitops_dir.is_dir():
        raise GeneratorError(gitops_dir, "is not a directory")
    text = read_text_contained(gitops_dir, CONFIG_FILE, "the GitOps repository")
    if text is None:
        raise GeneratorError(
            gitops_dir,
            f"is not a GitOps repository (no {CONFIG_FILE})",
            hint=f"create one with: autostack init {gitops_dir}",
        )
    return parse_config(text, str(gitops_dir / CONFIG_FILE))


def generate(request: GenerateRequest) -> GenerateResult:
    """Plan what ``autostack generate`` writes; raises GeneratorError on any bad input."""
    repo = SourceTree(request.app_dir)
    config = load_gitops_config(request.gitops_dir)
    app_config = _app_config(repo)
    subdir, tree = _source_dir(request, app_config, repo)
    stack = apply_overrides(detect(tree), app_config)
    name = _app_name(request, app_config, repo)
    spec = app_spec(name, image_repository(request.registry, name), stack, app_config)
    spec = replace(spec, source_repo=request.source_repo)
    app_desired = app_repo_files(stack, name, spec.image, subdir, config.default_branch, tree)
    gitops_desired = app_files(spec, config, ReadExisting(request.gitops_dir))
    return GenerateResult(
        stack=stack,
        spec=spec,
        app_changes=changeset.plan(request.app_dir, app_desired),
        gitops_changes=changeset.plan(request.gitops_dir, gitops_desired),
    )


def apply_overrides(stack: Stack, config: AppConfig) -> Stack:
    """What the app repository's config says wins over what detection guessed."""
    evidence = list(stack.evidence)
    changes: dict[str, object] = {}
    for key, value in (
        ("port", config.port),
        ("health_path", config.health_path),
        ("start_command", config.command),
        ("migrate_command", config.migrate),
    ):
        if value is not None and value != getattr(stack, key):
            changes[key] = value
            evidence.append(f"{APP_CONFIG_FILE} sets {key}")
    if not changes:
        return stack
    return replace(stack, evidence=tuple(evidence), **changes)  # type: ignore[arg-type]


def app_spec(name: str, image: str, stack: Stack, config: AppConfig) -> AppSpec:
    return AppSpec(
        name=name,
        image=image,
        port=stack.port,
        health_path=stack.health_path,
        serves_http=stack.serves_http,
        replicas=dict(config.replicas),
        resources=config.resources or Resources(),
        env=dict(config.env),
        migrate_command=stack.migrate_command,
    )


def app_repo_files(
    stack: Stack, name: str, image: str, subdir: str | None, branch: str, tree: SourceTree
) -> dict[str, bytes]:
    """The Dockerfile and .dockerignore (only where the app has none: from then on they are
    the user's) and the build workflow (generator-owned) for the app repository."""
    prefix = f"{subdir}/" if subdir else ""
    files = {WORKFLOW_PATH: build_workflow(image, context=subdir or ".", default_branch=branch)}
    if stack.template != "existing" and not tree.exists("Dockerfile"):
        files[f"{prefix}Dockerfile"] = dockerfile(stack, name)
    if not tree.exists(".dockerignore"):
        files[f"{prefix}.dockerignore"] = dockerignore(stack)
    return {path: text.encode() for path, text in files.items()}


def _app_config(repo: SourceTree) -> AppConfig:
    text = repo.read_text_or_none(APP_CONFIG_FILE)
    return (
        parse_app_config(text, repo.display(APP_CONFIG_FILE)) if text is not None else AppConfig()
    )


def _app_name(request: GenerateRequest, config: AppConfig, repo: SourceTree) -> str:
    """The app's name from the first source that gives one, checked by the one validator
    whichever it was: ``--name``, the app config's ``name:``, the repository's name, the
    app directory's name."""
    if request.name is not None:
        return validate_app_name(request.name, "--name")
    if config.name is not None:
        return validate_app_name(config.name, f"{repo.display(APP_CONFIG_FILE)}: name")
    if request.source_repo:
        return derive_app_name(request.source_repo.rsplit("/", 1)[-1])
    return derive_app_name(request.app_dir.resolve().name)


def _source_dir(
    request: GenerateRequest, config: AppConfig, repo: SourceTree
) -> tuple[str | None, SourceTree]:
    """The app's source subdirectory (``--path``, else the app config's ``path:``) and its
    tree; refused unless it is a directory inside the repository, symlinks followed."""
    subdir: str | None = request.path
    source = "--path"
    if subdir is None:
        subdir, source = config.path, f"{repo.display(APP_CONFIG_FILE)}: path"
    if subdir is None:
        return None, repo
    tree = repo.subtree(subdir, source)
    return relative_path(subdir, source), tree
