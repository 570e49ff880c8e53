"""Asking Argo CD to compare Applications with git now (``refresh=normal``), off the pass.

A refresh waits for Argo CD to fetch the repository and compare (about 0.3 s against the
sandbox, seconds against a real Argo CD). Made inside a watcher pass, a burst of landings
held back every verdict of that pass; the ``Refresher`` makes them on its own threads
instead, at most ``workers`` at once, oldest request first, and each Application once while
it is waiting or running. The pass only hands names over and sees the outcome in its next
list call (Argo CD's watch stream wakes that pass when the refresh changed something).

A refresh that fails for a transient reason (Argo CD down, or its circuit breaker open, in
which case no call is made) is logged and reported by ``take_failed``; the caller asks again
when its own rules say so. Other failures are logged only: Argo CD's own polling catches up.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from bot.core.argo import ArgoNotFound
from bot.core.errors import AutostackError, TransientError

log = logging.getLogger(__name__)
DEFAULT_WORKERS = 4


class Refresher:
    def __init__(self, argocd: Any, *, workers: int = DEFAULT_WORKERS):
        self.argocd = argocd
        self.workers = max(1, workers)
        self.answered = 0  # refreshes Argo CD answered, for tests and diagnostics
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[str] = deque()
        self._pending: set[str] = set()  # queued or running
        self._failed: set[str] = set()  # failed transiently since the last take_failed
        self._threads = 0
        self._closed = False
        self._failing = False  # the last refresh failed: log the next failures quietly

    def request(self, name: str) -> bool:
        """Queue a refresh of the Application ``name``; False when one is already waiting
        or running (or the refresher is closed), so no second call is made for it."""
        with self._lock:
            if self._closed or name in self._pending:
                return False
            self._pending.add(name)
            self._queue.append(name)
            self._failed.discard(name)
            start = self._threads < self.workers
            if start:
                self._threads += 1
        if start:
            threading.Thread(target=self._work, name="argocd-refresh", daemon=True).start()
        return True

    def pending(self) -> frozenset[str]:
        """The Applications with a refresh waiting or running."""
        with self._lock:
            return frozenset(self._pending)

    def take_failed(self) -> frozenset[str]:
        """The Applications whose refresh failed transiently since the last call."""
        with self._lock:
            failed, self._failed = frozenset(self._failed), set()
            return failed

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no refresh is waiting or running; False if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Drop what is still queued and wait (a little) for the calls in flight."""
        with self._changed:
            self._closed = True
            for name in self._queue:
                self._pending.discard(name)
            self._queue.clear()
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._threads == 0, timeout)

    def _work(self) -> None:
        while True:
            with self._changed:
                if not self._queue:
                    self._threads -= 1
                    self._changed.notify_all()
                    return
                name = self._queue.popleft()
            failed = not self._refresh(name)
            with self._changed:
                self._pending.discard(name)
                if failed and not self._closed:
                    self._failed.add(name)
                self._changed.notify_all()

    def _refresh(self, name: str) -> bool:
        """One ``refresh=normal`` get; False when it failed transiently."""
        try:
            self.argocd.get_application(name, refresh="normal")
        except ArgoNotFound:
            pass  # no such Application (yet): the pass waits for it as it is
        except TransientError as exc:
            self._log_failure(f"Argo CD refresh of {name} failed: {exc.message}")
            return False
        except AutostackError as exc:
            self._log_failure(f"Argo CD refresh of {name} failed: {exc.message}")
        except Exception:  # a bug here must not stop the refreshes that follow
            log.exception("Argo CD refresh of %s failed", name)
        else:
            with self._lock:
                self.answered += 1
                self._failing = False
        return True

    def _log_failure(self, message: str) -> None:
        with self._lock:
            quiet, self._failing = self._failing, True
        log.log(logging.DEBUG if quiet else logging.WARNING, "%s", message)
