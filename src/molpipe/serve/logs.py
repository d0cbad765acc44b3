"""Structured logs: one JSON object per line, for the service's own events and for uvicorn's.

Request logs carry the request id, route, status, latency and model version; the SMILES themselves only when
``serve.log_smiles`` is on, since a company's structures are often its most confidential data.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER = "molpipe.serve"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", **fields}``; fields come from ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> dict[str, Any]:
    """Send molpipe's and uvicorn's logs to stderr as JSON; returns the dict config for ``uvicorn.run``."""
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}},
        "loggers": {
            LOGGER: {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["json"], "level": level, "propagate": False},
            # the service writes its own request log (with request id and model version)
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
    logging.config.dictConfig(config)
    return config


PROBES = {"/health", "/ready", "/metrics"}  # polled every few seconds: logged at DEBUG, not to bury the traffic


def log_request(logger: logging.Logger, fields: dict[str, Any]) -> None:
    status = fields.get("status", 0)
    if fields.get("route") in PROBES:
        level = logging.DEBUG
    elif status >= 500:
        level = logging.ERROR
    else:
        level = logging.WARNING if status in (401, 403, 408, 413) else logging.INFO
    logger.log(level, "request", extra={"fields": {"event": "request", **fields}})
