"""Workers take deliveries from the durable queue, dispatch them and record the outcome.

``Worker.run_once`` is the single code path: the background ``WorkerPool`` threads call it
in a loop, and tests call it (or ``run_until_idle``) directly.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.core.errors import PermanentError, TransientError, UserError
from bot.logs import delivery_context
from bot.queue import Delivery, DeliveryQueue, PayloadUnreadable, storable_error
from bot.router import HandlerContext, Router

log = logging.getLogger(__name__)


class Worker:
    """Claims one delivery at a time under a lease and records what happened to it."""

    def __init__(
        self,
        context: HandlerContext,
        router: Router,
        *,
        worker_id: str | None = None,
        lease: timedelta = timedelta(minutes=5),
        max_attempts: int = 8,
        rng: random.Random | None = None,
        retry_base: float = 2.0,
        retry_cap: float = 900.0,
    ):
        self.context = context
        self.router = router
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.queue = DeliveryQueue(
            context.store,
            max_attempts=max_attempts,
            rng=rng,
            retry_base=retry_base,
            retry_cap=retry_cap,
        )

    def run_once(self) -> bool:
        """Process one due delivery; ``False`` if none was due."""
        clock = self.context.clock
        delivery = self.queue.claim(self.worker_id, self.lease, clock.now())
        if delivery is None:
            return False
        with (
            delivery_context(delivery),
            self.context.metrics.processing_seconds.labels(delivery.event).time(),
            LeaseKeeper(self.queue, delivery, self.lease, self.context.clock.now),
        ):
            outcome = self._process(delivery)
        self.context.metrics.deliveries_processed.labels(delivery.event, outcome).inc()
        return True

    def run_until_idle(self, limit: int = 10_000) -> int:
        """Process due deliveries until none is left; returns how many were processed."""
        processed = 0
        while processed < limit and self.run_once():
            processed += 1
        return processed

    def _process(self, delivery: Delivery) -> str:
        try:
            handled = self.router.dispatch(delivery.to_event(), self.context)
        except TransientError as exc:
            return self._fail(delivery, exc, permanent=False, retry_after=exc.retry_after)
        except (PermanentError, PayloadUnreadable) as exc:
            return self._fail(delivery, exc, permanent=True)
        except RecursionError as exc:
            # The same payload recurses as deep on every attempt: retrying cannot help.
            return self._fail(delivery, exc, permanent=True)
        except UserError as exc:
            # The handler should have answered the user; the delivery itself is finished.
            note = storable_error(f"user error: {exc}")
            log.info("delivery %s: %s", delivery.delivery_id, note)
            return self._complete(delivery, "user_error", note=note)
        except Exception as exc:
            # A bug or an unmapped upstream failure: retried (bounded), then dead-lettered.
            log.exception("delivery %s: unexpected error in a handler", delivery.delivery_id)
            return self._fail(delivery, exc, permanent=False)
        return self._complete(delivery, "done" if handled else "unhandled")

    def _complete(self, delivery: Delivery, outcome: str, note: str | None = None) -> str:
        if not self.queue.complete(delivery, self.context.clock.now(), note=note):
            log.warning("delivery %s: lease lost before completion", delivery.delivery_id)
            return "lease_lost"
        return outcome

    def _fail(
        self,
        delivery: Delivery,
        exc: Exception,
        *,
        permanent: bool,
        retry_after: float | None = None,
    ) -> str:
        error = storable_error(f"{type(exc).__name__}: {exc}")
        state = self.queue.fail(
            delivery,
            error,
            permanent=permanent,
            now=self.context.clock.now(),
            retry_after=retry_after,
        )
        if state is None:
            log.warning("delivery %s: lease lost before failure", delivery.delivery_id)
            return "lease_lost"
        log.warning(
            "delivery %s attempt %d: %s -> %s",
            delivery.delivery_id,
            delivery.attempts,
            error,
            state,
        )
        return "retry" if state == "failed" else "dead"


class LeaseKeeper:
    """Renews a delivery's lease every third of it while its handler runs, so a delivery
    that takes longer than the lease (GitHub slow to answer, a large clone) is never taken
    over by another worker while it is still being handled; only a worker that died lets
    its lease lapse."""

    def __init__(
        self,
        queue: DeliveryQueue,
        delivery: Delivery,
        lease: timedelta,
        now: Callable[[], datetime],
    ):
        self._queue, self._delivery, self._lease, self._now = queue, delivery, lease, now
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease:{delivery.delivery_id[:12]}", daemon=True
        )

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self._lease.total_seconds() / 3
        while not self._done.wait(interval):
            try:
                if not self._queue.renew(self._delivery, self._lease, self._now()):
                    return  # lost or finished: nothing left to keep
            except Exception as exc:  # the database is away: try again next time
                log.warning(
                    "delivery %s: cannot renew its lease: %s",
                    self._delivery.delivery_id,
                    type(exc).__name__,
                )


class WorkerPool:
    """Runs workers on background threads until ``stop()``; ``wake()`` cuts the idle wait."""

    def __init__(self, workers: Sequence[Worker], *, idle_wait: float = 1.0):
        self._workers = list(workers)
        self._idle_wait = idle_wait
        self._wakeup = threading.Condition()
        self._generation = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self._workers:
            thread = threading.Thread(target=self._loop, args=(worker,), name=worker.worker_id)
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def wake(self, count: int | None = None) -> None:
        """New work: wake ``count`` idle workers (all when ``None``). One per new delivery
        is enough, as a woken worker keeps claiming until nothing is due."""
        with self._wakeup:
            self._generation += 1
            if count is None:
                self._wakeup.notify_all()
            else:
                self._wakeup.notify(count)

    def stop(self, timeout: float = 10.0) -> None:
        """Let each worker finish its current delivery; an unfinished one is re-leased later."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _woken(self, seen: int) -> bool:
        return self._stopping or self._generation != seen

    def _loop(self, worker: Worker) -> None:
        while not self._stopping:
            with self._wakeup:
                seen = self._generation
            try:
                busy = worker.run_once()
            except Exception:
                log.exception("%s: cannot reach the queue; retrying", worker.worker_id)
                busy = False
            if not busy:
                with self._wakeup:
                    # A wake() since ``seen`` means new work arrived while we were looking.
                    self._wakeup.wait_for(functools.partial(self._woken, seen), self._idle_wait)
