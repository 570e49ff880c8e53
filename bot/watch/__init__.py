"""The Argo CD watcher: follows deployments to a verdict, reports it on GitHub, rolls back
automatically where asked, and opens drift issues."""

from bot.watch.watcher import Watcher, start_watcher

__all__ = ["Watcher", "start_watcher"]
