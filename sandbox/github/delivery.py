"""Webhook deliveries: signed like GitHub's, sent in order from a background thread, logged,
redeliverable, and waitable (``flush``) so tests know when the receiver has seen them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from sandbox.github.faults import Faults
from sandbox.github.store import Doc, Store

HOOKSHOT_AGENT = "GitHub-Hookshot/5d5b5e3"


def signatures(secret: str, body: bytes) -> dict[str, str]:
    """The two signature headers GitHub sends (SHA-256 and the legacy SHA-1)."""
    sha256 = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={sha256}", "X-Hub-Signature": f"sha1={sha1}"}


class Dispatcher:
    """Queue, send and log the App's webhook deliveries."""

    def __init__(
        self,
        store: Store,
        app: Callable[[], Doc],
        faults: Faults,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._app = app
        self._faults = faults
        self._clock = clock
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=10.0)

    def enqueue(
        self, event: str, action: str | None, payload: Doc, *, redelivery_of: str | None = None
    ) -> Doc:
        """Store a delivery and queue it for sending. A redelivery keeps the original's GUID,
        as GitHub's does; it is set before the sender thread can see the delivery."""
        delivery_id = self._store.next_id("delivery")
        inst = payload.get("installation") or {}
        repo = payload.get("repository") or {}
        doc: Doc = {
            "id": delivery_id,
            "guid": redelivery_of or str(uuid.uuid4()),
            "event": event,
            "action": action,
            "installation_id": inst.get("id"),
            "repository_id": repo.get("id"),
            "redelivery": redelivery_of is not None,
            "status": "pending",
            "status_code": 0,
            "duration": None,
            "delivered_at": None,
            "request": {"headers": {}, "payload": payload},
            "response": {"headers": {}, "payload": None},
        }
        self._store.put("delivery", delivery_id, doc)
        self._submit(delivery_id)
        return doc

    def redeliver(self, delivery_id: int) -> Doc:
        original = self._store.get("delivery", delivery_id)
        if original is None:
            raise KeyError(delivery_id)
        payload = original["request"]["payload"]
        return self.enqueue(
            original["event"], original["action"], payload, redelivery_of=original["guid"]
        )

    def deliveries(self) -> list[Doc]:
        return self._store.list("delivery")

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
        self._client.close()

    def _submit(self, delivery_id: int) -> None:
        with self._idle:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery_id)

    def _run(self) -> None:
        # One worker keeps deliveries in the order they happened, for every repository.
        while (delivery_id := self._queue.get()) is not None:
            try:
                self._send(delivery_id)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _headers(self, doc: Doc, body: bytes) -> dict[str, str]:
        app = self._app()
        headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": HOOKSHOT_AGENT,
            "X-GitHub-Delivery": doc["guid"],
            "X-GitHub-Event": doc["event"],
            "X-GitHub-Hook-ID": str(app["hook_id"]),
            "X-GitHub-Hook-Installation-Target-ID": str(app["id"]),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
        }
        headers.update(signatures(app["webhook_secret"], body))
        return headers

    def _send(self, delivery_id: int) -> None:
        doc = self._store.get("delivery", delivery_id)
        if doc is None:
            return
        url = self._app().get("webhook_url")
        body = json.dumps(doc["request"]["payload"], separators=(",", ":")).encode()
        headers = self._headers(doc, body)
        shown = {k: v for k, v in headers.items() if not k.startswith("X-Hub-Signature")}
        doc["request"]["headers"] = shown
        doc["delivered_at"] = self._clock()
        started = time.perf_counter()
        fault = self._faults.for_webhook(doc["event"])
        if not url:
            doc.update(status="not sent: the App has no webhook URL", status_code=0)
        elif fault is not None:
            doc.update(status="failed: delivery fault injected", status_code=fault.status)
        else:
            self._post(doc, url, body, headers)
        doc["duration"] = round(time.perf_counter() - started, 4)
        self._store.put("delivery", delivery_id, doc)

    def _post(self, doc: Doc, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            doc.update(status=f"failed: {type(exc).__name__}", status_code=0)
            return
        ok = 200 <= response.status_code < 300
        doc.update(
            status="OK" if ok else f"Invalid HTTP Response: {response.status_code}",
            status_code=response.status_code,
        )
        doc["response"] = {"headers": dict(response.headers), "payload": response.text[:10000]}


def delivery_summary(doc: Doc) -> dict[str, Any]:
    """A delivery as GitHub's ``/app/hook/deliveries`` lists it (without the payload)."""
    keys = ("id", "guid", "event", "action", "status", "status_code", "redelivery")
    summary = {k: doc[k] for k in keys}
    summary.update(
        duration=doc["duration"],
        delivered_at=doc["delivered_at"],
        installation_id=doc["installation_id"],
        repository_id=doc["repository_id"],
    )
    return summary
