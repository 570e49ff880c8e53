"""Prometheus metrics, one registry per app instance so tests and replicas never share."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The bot's metrics; label values are bounded (event names, fixed outcomes)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhook_deliveries = Counter(
            "autostack_webhook_deliveries",
            "Webhook requests by event and outcome "
            "(queued, duplicate, pong, rejected, bad, unavailable).",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.deliveries_processed = Counter(
            "autostack_deliveries_processed",
            "Processed deliveries by event and outcome (done, unhandled, retry, dead, ...).",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "autostack_queue_depth",
            "Stored deliveries by state, read from the database at scrape time.",
            ["state"],
            registry=self.registry,
        )
        self.processing_seconds = Histogram(
            "autostack_delivery_processing_seconds",
            "Time to handle one delivery, by event.",
            ["event"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.github_rate_limit_remaining = Gauge(
            "autostack_github_rate_limit_remaining",
            "GitHub API requests (GraphQL: points) left in the current rate-limit window, "
            "as last reported, by resource (core is REST).",
            ["resource"],
            registry=self.registry,
        )
        self.commands = Counter(
            "autostack_commands",
            "Comment commands by command and outcome (ran, queued, refused, invalid, failed).",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.argocd_breaker_open = Gauge(
            "autostack_argocd_breaker_open",
            "1 while the Argo CD client's circuit breaker is open (calls fail fast), else 0.",
            registry=self.registry,
        )

    def set_queue_depth(self, counts: dict[str, int]) -> None:
        for state in ("queued", "running", "failed", "dead", "done"):
            self.queue_depth.labels(state).set(counts.get(state, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
