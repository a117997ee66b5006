"""Prometheus metrics of one guard service (its own registry, so several apps can coexist).

Aggregates only, and only on the operator surface: no client label, no alarm series per
client and no count of watermarked answers, so that even a leaked scrape cannot tell a thief
which of its answers were altered or whether it was flagged (issue 15).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["GuardMetrics"]


class GuardMetrics:
    """Counters and the latency histogram exported at ``GET /v1/metrics`` (operator only)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "edgeshield_guard_requests",
            "Prediction requests by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.records = Counter(
            "edgeshield_guard_records",
            "Records answered, all clients together.",
            registry=self.registry,
        )
        self.alarms = Counter(
            "edgeshield_guard_extraction_alarms",
            "PRADA extraction alarms raised, all clients together (the audit log names them).",
            registry=self.registry,
        )
        self.latency = Histogram(
            "edgeshield_guard_predict_seconds",
            "Time spent in the guard per prediction request.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.licence_remaining = Gauge(
            "edgeshield_guard_licence_queries_remaining",
            "Records left under the licence quota (-1: no quota).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
