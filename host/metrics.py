"""Prometheus metrics of one HTTP host (its own registry, so tests and hosts don't collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Requests by function, version and status; latency; cold starts; invocations in flight."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("wasmlet_requests", "HTTP requests served",
                                ["function", "version", "status"], registry=self.registry)
        self.latency = Histogram("wasmlet_request_seconds", "Request latency, routing to response",
                                 ["function"], registry=self.registry,
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
        self.cold_starts = Counter("wasmlet_cold_starts", "Components compiled because the compile cache missed",
                                   ["function"], registry=self.registry)
        self.in_flight = Gauge("wasmlet_invocations_in_flight", "Invocations running now", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
