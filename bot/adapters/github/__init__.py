"""The GitHub adapter: the ``bot.ports.GitHub`` port over PyGithub, as a GitHub App.

Synchronous (PyGithub blocks on the network): run it in worker threads, never on the event
loop. ``GitHubAdapter.from_settings(settings, clock, on_rate_limit=...)`` builds it.
"""

from bot.adapters.github.adapter import GitHubAdapter, convert_manifest
from bot.adapters.github.errors import Forbidden, Unprocessable, github_error

__all__ = ["Forbidden", "GitHubAdapter", "Unprocessable", "convert_manifest", "github_error"]
