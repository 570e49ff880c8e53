"""A local GitHub-compatible server: REST API, GraphQL (``POST /graphql``), git over HTTP,
App auth and webhooks.

``GitHubState.open(data_dir)`` holds the data; ``create_app(state)`` serves it.
"""

from sandbox.github.app import create_app
from sandbox.github.state import GitHubState

__all__ = ["GitHubState", "create_app"]
