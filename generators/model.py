"""Values passed between detection, the Dockerfile templates and the GitOps generator."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stack:
    """What stack detection found in an app's source tree.

    Enough to write a Dockerfile (``template`` and ``options``) and a Kubernetes workload
    (``port``, ``health_path``, ``migrate_command``). ``evidence`` says, one short phrase
    each, why: it is printed so the user can see how the result was reached.
    """

    language: str  # python, node, go, rust, java, ruby, php, dotnet, elixir, deno, static, docker
    framework: str | None  # django, flask, fastapi, nextjs, spring-boot, rails, laravel, ...
    package_manager: str | None  # pip, poetry, uv, pipenv, pdm, npm, yarn, pnpm, bun, ...
    runtime_version: str  # as precise as the files say: "3.12.4", "20.11.1", "1.22"
    version_source: str  # the file the version came from, or "default"
    start_command: tuple[str, ...]  # exec-form CMD of the final image
    port: int
    health_path: str | None  # None: probe the TCP port
    template: str  # templates/dockerfile/<template>.Dockerfile.j2; "existing" keeps the user's
    options: dict[str, str] = field(default_factory=dict)  # template details (lockfile, out dir)
    migrate_command: tuple[str, ...] | None = None  # run as an Argo CD PreSync Job, never at start
    evidence: tuple[str, ...] = ()
    serves_http: bool = True

    def describe(self) -> str:
        """One line for the CLI: ``python 3.12.4 (fastapi, uv) on :8000``."""
        extras = ", ".join(x for x in (self.framework, self.package_manager) if x)
        extras = f" ({extras})" if extras else ""
        return f"{self.language} {self.runtime_version}{extras} on :{self.port}"


@dataclass(frozen=True)
class Resources:
    """Requests and limits of the app container; the limits bound noisy neighbours."""

    cpu_request: str = "100m"
    memory_request: str = "128Mi"
    storage_request: str = "64Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"
    storage_limit: str = "256Mi"


@dataclass(frozen=True)
class AppConfig:
    """The app repository's ``.github/autostack.yml``: every key optional."""

    name: str | None = None
    port: int | None = None
    health_path: str | None = None
    path: str | None = None  # source subdirectory (monorepos)
    command: tuple[str, ...] | None = None
    migrate: tuple[str, ...] | None = None
    replicas: dict[str, int] = field(default_factory=dict)  # per environment
    resources: Resources | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppSpec:
    """Everything the GitOps generator needs to render one app for every environment."""

    name: str  # DNS-1123 label
    image: str  # repository without tag, e.g. ghcr.io/acme/shop
    port: int
    health_path: str | None
    serves_http: bool = True
    replicas: dict[str, int] = field(default_factory=dict)  # env -> replicas; missing: policy
    resources: Resources = field(default_factory=Resources)
    env: dict[str, str] = field(default_factory=dict)
    migrate_command: tuple[str, ...] | None = None
    source_repo: str | None = None  # owner/name of the app repository, when known
