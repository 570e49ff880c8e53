"""What one watcher pass sees: Argo CD's Applications, listed at most once per pass, and
which GitOps revision contains which, from a commit graph read at most once per pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from bot.core.argo import AppStatus
from bot.core.errors import TransientError
from bot.services import APP_LABEL, Services
from bot.watch.ancestry import CommitGraph
from generators.config import GitOpsConfig

T = TypeVar("T")


class ArgoDown(Exception):
    """Argo CD did not answer (or its circuit breaker is open): the pass stops here and
    every deployment stays as it is until Argo CD is back."""

    def __init__(self, cause: TransientError):
        super().__init__(cause.message)
        self.cause = cause


def argo(call: Callable[[], T]) -> T:
    """Run one Argo CD call; its transient failures become ``ArgoDown``."""
    try:
        return call()
    except TransientError as exc:
        raise ArgoDown(exc) from exc


class Observation:
    """One pass's view, shared by following and drift so neither asks twice."""

    def __init__(self, services: Services, now: datetime, graph: CommitGraph | None = None):
        self.services = services
        self.now = now
        # The watcher keeps one graph across passes (commits never change); without one,
        # this pass reads its own.
        self.graph = graph or gitops_graph(services)
        self.graph.new_pass()
        self._apps: dict[str, AppStatus] | None = None
        self._config: GitOpsConfig | None = None

    @property
    def listed(self) -> bool:
        return self._apps is not None

    def applications(self) -> dict[str, AppStatus]:
        """Every AutoStack Application by name, from one list call per pass."""
        if self._apps is None:
            argocd = self.services.argocd
            found = argo(lambda: argocd.list_applications(selector=APP_LABEL)) if argocd else ()
            self._apps = {status.name: status for status in found}
        return self._apps

    def is_descendant(self, revision: str, ancestor: str) -> bool:
        """Whether ``revision`` contains ``ancestor`` (or is it)."""
        return self.graph.contains(revision, ancestor)

    def config(self) -> GitOpsConfig:
        if self._config is None:
            self._config = self.services.config()
        return self._config


def gitops_graph(services: Services) -> CommitGraph:
    """The GitOps repository's default branch as a commit graph; git answers the rest."""
    return CommitGraph(
        lambda: ((commit.sha, commit.parents) for commit in services.gitops().history("")),
        lambda revision, ancestor: services.gitops().is_ancestor(ancestor, revision),
    )
