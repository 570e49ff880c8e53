"""A local Argo CD-compatible API server: reads a GitOps repo over git and syncs like Argo CD."""

from sandbox.argocd.app import create_app
from sandbox.argocd.clock import ManualClock, SystemClock
from sandbox.argocd.model import BadImage
from sandbox.argocd.state import ApiError, ArgoState

__all__ = ["ApiError", "ArgoState", "BadImage", "ManualClock", "SystemClock", "create_app"]
