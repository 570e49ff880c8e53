"""The sandbox Argo CD's in-memory records: one per Application, and the active scenarios."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.argocd.manifests import ObjectKey
from sandbox.argocd.render import Rendered

CRASH_LOOP = "CrashLoopBackOff"
IMAGE_PULL = "ImagePullBackOff"

DEFAULT_CRASH_LOG = (
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 42, in <module>',
    "    app = create_app(load_settings())",
    '  File "/app/settings.py", line 17, in load_settings',
    '    raise RuntimeError("required setting DATABASE_URL is not set")',
    "RuntimeError: required setting DATABASE_URL is not set",
)


@dataclass(frozen=True)
class BadImage:
    """An image (or glob) whose containers fail, and how."""

    pattern: str
    reason: str = CRASH_LOOP
    log_lines: tuple[str, ...] = DEFAULT_CRASH_LOG


@dataclass
class Scenarios:
    """Faults and behaviours switched on through the control API."""

    bad_images: list[BadImage] = field(default_factory=list)
    outage: str | None = None  # "503" or "drop"
    latency_seconds: float = 0.0
    slow_sync_seconds: float = 0.0
    stale_status: bool = False
    apply_failures: dict[str, str] = field(default_factory=dict)  # "Kind/name" glob -> message

    def bad_image(self, image: str) -> BadImage | None:
        for bad in reversed(self.bad_images):
            if fnmatch.fnmatchcase(image, bad.pattern):
                return bad
        return None

    def apply_failure(self, kind: str, name: str) -> str | None:
        for pattern, message in self.apply_failures.items():
            if fnmatch.fnmatchcase(f"{kind}/{name}", pattern):
                return message
        return None


@dataclass
class LiveState:
    """What the simulated cluster runs for an Application after its last sync."""

    objects: dict[ObjectKey, dict[str, Any]]
    revision: str
    synced_at: datetime


@dataclass
class PendingSync:
    """A sync operation: requested, then running, then finished into ``operation_state``."""

    operation: dict[str, Any]
    revision: str
    prune: bool
    started_at: datetime | None = None
    finish_at: datetime | None = None
    result: dict[str, Any] | None = None
    outcome: tuple[str, str] | None = None  # (phase, message) once decided


@dataclass
class AppRecord:
    """One Application: its declaration from git plus everything the controller observed."""

    manifest: dict[str, Any]
    uid: str
    created_at: datetime
    generation: int = 1
    resource_version: int = 0
    target_sha: str | None = None
    target: Rendered | None = None
    sync_status: str = "Unknown"
    conditions: list[dict[str, Any]] = field(default_factory=list)
    reconciled_at: datetime | None = None
    live: LiveState | None = None
    health_status: str = "Missing"
    health_message: str = ""
    health_since: datetime | None = None
    pending: PendingSync | None = None
    operation_state: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    last_auto_sync: tuple[str, str] | None = None  # (revision, phase) of the last automated try
    published: str = ""

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.manifest.get("spec") or {})

    @property
    def source(self) -> dict[str, Any]:
        spec = self.spec
        return dict(spec.get("source") or (spec.get("sources") or [{}])[0])

    @property
    def destination_namespace(self) -> str:
        return str((self.spec.get("destination") or {}).get("namespace") or "default")

    @property
    def automated(self) -> dict[str, Any] | None:
        automated = (self.spec.get("syncPolicy") or {}).get("automated")
        if automated is None or (isinstance(automated, dict) and automated.get("enabled") is False):
            return None
        return automated if isinstance(automated, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.manifest.get("metadata") or {}).get("labels") or {})

    @property
    def project(self) -> str:
        return str(self.spec.get("project") or "default")
