"""Metrics in Prometheus format and structured JSON logs with request ids.

Logs never carry keys or secrets: the Authorization header is not logged, and query strings
are logged without their values."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "ledger_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "ledger_http_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY
)
APPENDED = Counter(
    "ledger_events_appended_total", "events appended by this process", registry=REGISTRY
)
LAG = Gauge(
    "ledger_follower_lag_events",
    "events a follower is behind the log",
    ["follower"],
    registry=REGISTRY,
)
POSITION = Gauge("ledger_log_position", "the last position of the log", registry=REGISTRY)
WEBHOOK_ATTEMPTS = Counter(
    "ledger_webhook_attempts_total", "webhook delivery attempts", ["outcome"], registry=REGISTRY
)

log = logging.getLogger("ledger.http")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("ledger")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        LATENCY.labels(request.method, template).observe(elapsed)
        response.headers["X-Request-ID"] = request_id
        log.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": request.method,
                    "route": template,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                    "query": sorted(request.query_params.keys()),
                }
            },
        )
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        services = request.app.state.services
        try:
            POSITION.set(services.ledger.last_position())
            for name, lag in services.followers.lag().items():
                LAG.labels(name).set(lag)
        except Exception:  # the store is down: the counters still answer
            log.warning("metrics: the store did not answer")
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
