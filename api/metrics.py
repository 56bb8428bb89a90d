"""Prometheus metrics: request counts and latency per route, and the snapshot served.

Each app gets its own registry (several apps in one process, as in tests, never clash).
With several uvicorn workers, ``geo-discovery serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
before the workers start; every worker then writes its samples there and ``/metrics``
aggregates all of them, whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from geo_discovery.engine import DiscoveryEngine

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Methods kept as labels; anything else counts as "OTHER" (bounded series).
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# Latency buckets (seconds): sub-millisecond to a few seconds.
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The metrics of one app."""

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: half the output, no use here
        self.multiprocess = _multiprocess()
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "geo_discovery_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "geo_discovery_http_request_duration_seconds",
            "Time from receiving a request to sending its last byte, by route template.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.snapshot_info = Gauge(
            "geo_discovery_snapshot_info",
            "1 for the snapshot version being served (label version).",
            ["version"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.snapshot_merchants = Gauge(
            "geo_discovery_snapshot_merchants",
            "Merchants in the snapshot being served.",
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "geo_discovery_snapshot_reloads",
            "Snapshot swaps (result=ok) and snapshots that failed to open (result=failed).",
            ["result"],
            registry=self.registry,
        )

    def on_swap(self, old: DiscoveryEngine | None, new: DiscoveryEngine) -> None:
        if old is not None and old.version != new.version:
            if self.multiprocess:
                self.snapshot_info.labels(old.version).set(0)
            else:
                self.snapshot_info.remove(old.version)
        self.snapshot_info.labels(new.version).set(1)
        self.snapshot_merchants.set(len(new))
        self.reloads.labels("ok").inc()

    def on_failed_reload(self) -> None:
        self.reloads.labels("failed").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (all workers when multiprocess)."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return b"".join(line for line in generate_latest(registry).splitlines(keepends=True)
                            if not _retired_version(line))  # fmt: skip
        return generate_latest(self.registry)


def _retired_version(line: bytes) -> bool:
    """A snapshot version a worker served before: in multiprocess mode a label cannot be
    removed, only set to 0, so each swap added one series per worker for good (18 after 8
    swaps of 2 workers); they are left out, as one process removes the label."""
    return line.startswith(b"geo_discovery_snapshot_info{") and line.rstrip().endswith(b" 0.0")


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by its route template.

    Unmatched paths share the label ``route="unmatched"`` so that random URLs cannot
    blow up the number of series.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter and latency histogram children of these labels (looked up
        once: ``labels()`` validates and locks on every call)."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
            self._children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            if method not in _METHODS:
                method = "OTHER"
            counter, histogram = self._series(method, label, status)
            counter.inc()
            histogram.observe(time.perf_counter() - start)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Count before the last byte leaves: a client that reads /metrics right
                # after its response (maybe from another worker) must see this request.
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            record()
