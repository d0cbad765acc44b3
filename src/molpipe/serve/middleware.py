"""The envelope around every request: an id, a bounded and timed body read, metrics and one JSON log line.

A plain ASGI middleware (no per-request task or stream wrapping): it reads the body itself, at most
``serve.max_body_bytes`` and within ``serve.timeout_s``, before any JSON is parsed, so an oversized or trickled
body is answered with 413 or 408 without the application ever seeing it. After a 413 the connection stays open:
the server (uvicorn) reads the rest of the body and drops it, for at most its keep-alive timeout, since closing a
socket with unread data resets it and the client, still sending, would never read its 413. After a 408 it closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from molpipe.serve.logs import log_request
from molpipe.serve.metrics import ServeMetrics

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


@dataclass
class RequestContext:
    """What the endpoint learned, for the log line and the response headers (``scope["molpipe"]``)."""

    request_id: str
    model: str | None = None
    version: str | None = None
    n_smiles: int = 0
    n_invalid: int = 0
    smiles: list[str] = field(default_factory=list)  # logged only with serve.log_smiles


class RequestEnvelope:
    def __init__(
        self,
        app,
        metrics: ServeMetrics,
        max_body_bytes: int,
        timeout_s: float,
        log_smiles: bool,
        routes: set[str] = frozenset(),
    ):
        self.app = app
        self.routes = routes  # paths known before routing (a 413 is answered before the router runs)
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.log_smiles = log_smiles
        self.logger = logging.getLogger("molpipe.serve")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        context = RequestContext(given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex)
        scope["molpipe"] = context
        status = 500
        self.metrics.in_flight.inc()

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", context.request_id.encode())]
                if context.version is not None:
                    extra += [(b"x-model-name", context.model.encode()), (b"x-model-version", context.version.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            if scope["method"] in _BODY_METHODS:
                receive = await self._read_body(headers, receive, send_with_headers, context)
                if receive is None:
                    return
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or (
                scope["path"] if scope["path"] in self.routes else "unmatched"
            )  # a bounded set of labels: never a client's arbitrary path
            self.metrics.in_flight.dec()
            self.metrics.observe(route, scope["method"], status, seconds)
            fields: dict[str, Any] = {
                "request_id": context.request_id,
                "method": scope["method"],
                "route": route,
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
                "model": context.model,
                "version": context.version,
                "n_smiles": context.n_smiles,
                "n_invalid": context.n_invalid,
            }
            if self.log_smiles and context.smiles:
                fields["smiles"] = context.smiles
            log_request(self.logger, fields)

    async def _read_body(self, headers, receive, send, context: RequestContext):
        """The whole body, replayed to the app; None when the request was already answered (413, 408)."""
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _answer(
                send,
                413,
                f"request body of {int(declared):,} bytes is over the limit of "
                f"{self.max_body_bytes:,} bytes (serve.max_body_bytes)",
                context,
                close=False,
            )
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        await _answer(
                            send,
                            413,
                            f"request body is over the limit of {self.max_body_bytes:,} bytes (serve.max_body_bytes)",
                            context,
                            close=False,
                        )
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _answer(
                send, 408, f"request body not received within {self.timeout_s:g} s (serve.timeout_s)", context
            )
            return None
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


async def _answer(send, status: int, detail: str, context: RequestContext, close: bool = True) -> None:
    """The envelope's own error response; ``close``: the connection ends with it (the body will not be read)."""
    body = json.dumps({"detail": detail, "request_id": context.request_id}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers + [(b"connection", b"close")] if close else headers,
        }
    )
    await send({"type": "http.response.body", "body": body})
