"""Prometheus metrics for one app (its own registry, so several apps in one process do not collide)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other is counted as OTHER


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("textrec_requests", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("textrec_request_seconds", "Request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("textrec_batch_size", "Images per forward pass (micro-batches)",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.images = Counter("textrec_images", "Images recognized", registry=self.registry)
        self.abandoned = Counter("textrec_abandoned_pages", "Queued pages dropped because the client hung up",
                                 registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Labels come from closed sets (routes of the app or 'other', standard methods or OTHER, status codes):
        a client inventing method names cannot grow the metrics without end."""
        method = method if method in METHODS else "OTHER"
        status_label = str(status) if 100 <= status <= 599 else "other"
        self.requests.labels(route, method, status_label).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
