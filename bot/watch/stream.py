"""Argo CD's watch stream as a doorbell: each change wakes the watcher's next pass early.

No API call is made per event (the pass lists everything once anyway); when the stream
breaks it reconnects with backoff, and the watcher's interval polling carries on meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bot.core.errors import AutostackError
from bot.services import APP_LABEL

log = logging.getLogger(__name__)


class StreamWaker:
    def __init__(
        self,
        argocd: Any,
        wake: Callable[[], None],
        *,
        selector: str = APP_LABEL,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
    ):
        self.argocd = argocd
        self.wake = wake
        self.selector = selector
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.events = 0  # seen since start, for tests and diagnostics
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="argocd-watch-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reconnecting; a read blocked on a quiet stream ends with the process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        backoff = self.first_backoff
        while not self._stop.is_set():
            try:
                for event in self.argocd.watch(self.selector, resource_version=self._version):
                    if self._stop.is_set():
                        return
                    self._version = event.application.resource_version or self._version
                    self.events += 1
                    backoff = self.first_backoff
                    self.wake()
            except AutostackError as exc:
                log.info("Argo CD watch stream: %s; polling until it reconnects", exc.message)
            except Exception:  # a bug here must not end change notification for good
                log.exception("Argo CD watch stream failed")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)
