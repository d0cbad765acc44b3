"""Prometheus metrics of one service instance (its own registry, so several apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# seconds; a single SMILES takes ~10-20 ms on one core, a full batch up to several seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServeMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "molpipe_serve_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "molpipe_serve_request_duration_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("molpipe_serve_requests_in_flight", "Requests being answered", registry=r)
        self.molecules = Counter("molpipe_serve_molecules", "SMILES predicted, valid or not", ["outcome"], registry=r)
        self.invalid = Counter("molpipe_serve_invalid_smiles", "Rejected SMILES by reason", ["reason"], registry=r)
        self.model_info = Gauge(
            "molpipe_serve_model_info",
            "The model version being served (value 1)",
            ["model", "version", "alias"],
            registry=r,
        )
        self.model_version = Gauge("molpipe_serve_model_version", "Registry version being served", registry=r)
        self.model_ready = Gauge("molpipe_serve_model_ready", "1 once a model is loaded", registry=r)
        self.swaps = Counter("molpipe_serve_model_swaps", "Model versions swapped in after the first", registry=r)
        self.load_failures = Counter(
            "molpipe_serve_model_load_failures", "Registry look-ups or model loads that failed", registry=r
        )

    def model_loaded(self, name: str, version: str, alias: str | None, swapped: bool) -> None:
        self.model_info.clear()
        self.model_info.labels(name, version, alias or "").set(1)
        if version.isdigit():
            self.model_version.set(int(version))
        self.model_ready.set(1)
        if swapped:
            self.swaps.inc()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def rejected(self, reason: str, n: int = 1) -> None:
        self.invalid.labels(reason).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
