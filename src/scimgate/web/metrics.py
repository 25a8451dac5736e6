"""Prometheus metrics: request counts and latency per surface, per-account counts, limits hit,
and figures read from the database at scrape time (sync runs, webhook backlog and lag).

With `serve --workers N` every worker writes its counters to PROMETHEUS_MULTIPROC_DIR and
a scrape of any worker reports them all (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from scimgate.operations.status import Figures

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def surface_of(path: str) -> str:
    """Which part of scimgate a path belongs to (a bounded label, never the path itself)."""
    for prefix, name in (
        ("/scim/v2", "scim"),
        ("/api/v1", "api"),
        ("/console", "console"),
        ("/metrics", "metrics"),
    ):
        if path.startswith(prefix):
            return name
    return "health" if path in ("/healthz", "/livez", "/readyz") else "other"


class Metrics:
    """This process's metrics, and the scrape that adds what the database knows."""

    def __init__(self, figures: Callable[[], Figures | None]) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "scimgate_http_requests", "HTTP requests answered", ["surface", "status"], registry=r
        )
        self.latency = Histogram(
            "scimgate_http_request_duration_seconds",
            "Time to answer a request",
            ["surface"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.account_requests = Counter(
            "scimgate_account_requests",
            "Requests per account (SCIM and host API; a SCIM Bulk counts its operations)",
            ["account_id", "surface"],
            registry=r,
        )
        self.rate_limited = Counter(
            "scimgate_rate_limited_requests",
            "Requests answered 429 or 503 by a limit",
            ["surface", "limit"],
            registry=r,
        )
        self.database_errors = Counter(
            "scimgate_database_errors",
            "Requests that met an unavailable or too slow database",
            ["kind"],
            registry=r,
        )
        self.request_log_backlog = Gauge(
            "scimgate_request_log_backlog",
            "Request log entries waiting to be written",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.request_log_failures = Gauge(
            "scimgate_request_log_failures",
            "Request log writes that failed since start (restarts of the writer included)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.db_threads_busy = Gauge(
            "scimgate_db_threads_busy",
            "Request threads doing database work",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._figures = figures
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._accounts: dict[tuple[int, str], Any] = {}

    def observe(self, surface: str, status: int, seconds: float) -> None:
        """Count one answered request (label children are looked up once, then kept)."""
        key = (surface, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (
                self.requests.labels(surface, str(status)),
                self.latency.labels(surface),
            )
        child[0].inc()
        child[1].observe(seconds)

    def count_database_error(self, kind: str) -> None:
        """A request met a too slow ("timeout") or gone ("unavailable") database."""
        self.database_errors.labels(kind).inc()

    def count_account(self, account_id: int, surface: str, requests: int = 1) -> None:
        """Requests of an account on a surface: one, or a SCIM Bulk's operations (what the
        account's rate limit charges)."""
        key = (account_id, surface)
        child = self._accounts.get(key)
        if child is None:
            if len(self._accounts) > 100_000:  # bounded, whatever the number of accounts
                self._accounts.clear()
            child = self._accounts[key] = self.account_requests.labels(str(account_id), surface)
        child.inc(requests)

    def scrape(self) -> tuple[bytes, str]:
        """The exposition text: this process (or every worker) plus the database's figures."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        collector = _DatabaseCollector(self._figures)
        registry.register(collector)
        try:
            return generate_latest(registry), CONTENT_TYPE_LATEST
        finally:
            registry.unregister(collector)


class _DatabaseCollector:
    """Figures that live in the database, read once per scrape."""

    def __init__(self, figures: Callable[[], Figures | None]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Any]:
        figures = self.figures()
        up = GaugeMetricFamily("scimgate_database_up", "1 when the database answered the scrape")
        up.add_metric([], 0 if figures is None else 1)
        yield up
        if figures is None:
            return
        runs = CounterMetricFamily(
            "scimgate_sync_runs",
            "Synchronize runs by trigger and status",
            labels=["trigger", "status"],
        )
        for (trigger, status), count in sorted(figures.sync_runs.items()):
            runs.add_metric([trigger, status], count)
        yield runs
        duration = SummaryMetricFamily(
            "scimgate_sync_run_duration_seconds", "Duration of finished Synchronize runs"
        )
        duration.add_metric([], figures.sync_seconds_count, figures.sync_seconds_sum)
        yield duration
        for name, doc, value in (
            (
                "scimgate_webhook_backlog_events",
                "Events not yet delivered",
                figures.webhook_backlog,
            ),
            (
                "scimgate_webhook_lag_seconds",
                "Age of the oldest event waiting for delivery",
                figures.webhook_lag_seconds,
            ),
            ("scimgate_webhook_failing_endpoints", "Endpoints to resume", figures.webhook_failing),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge
