"""Prometheus metrics of one HTTP host (its own registry, so tests and hosts don't collide)."""

from __future__ import annotations

import os
from typing import Any

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
        self.inline_overruns = Counter("wasmlet_inline_overruns",
                                       "Inline attempts that ran past their budget and moved to a worker thread",
                                       ["function"], registry=self.registry)
        self.process = Gauge("wasmlet_process_id", "The process answering (each `--workers` worker has its own metrics)",
                             registry=self.registry)
        self.process.set(os.getpid())
        self.in_flight = Gauge("wasmlet_invocations_in_flight", "Invocations running now", registry=self.registry)
        self.deliveries = Counter("wasmlet_message_deliveries", "Messages delivered to functions, by outcome "
                                  "(acked, retried, dead-lettered)", ["function", "outcome"], registry=self.registry)
        self.redeliveries = Counter("wasmlet_message_redeliveries", "Deliveries of a message after its first",
                                    ["function"], registry=self.registry)
        self.dead_letters = Counter("wasmlet_dead_letters", "Messages given up on and published to the dead-letter "
                                    "subject", ["function"], registry=self.registry)
        self.queue_lag = Gauge("wasmlet_message_queue_lag", "Messages waiting for (or being handled by) a trigger's "
                               "consumer", ["function", "subject"], registry=self.registry)
        self.schedule_runs = Counter("wasmlet_schedule_runs", "Schedules that came due and ran, by outcome",
                                     ["function", "outcome"], registry=self.registry)
        self.delivery_lag = Histogram("wasmlet_message_delivery_seconds", "From receipt to settlement of a message",
                                      ["function"], registry=self.registry,
                                      buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30))

        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, function: str, version: str, status: int, seconds: float) -> None:
        """Counts one request and its latency (label lookups are remembered: this runs per request)."""
        key = (function, version, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(function, version, str(status)),
                                               self.latency.labels(function))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
