"""What a client is told when something went wrong: one JSON body on every route, ``{"detail", "request_id", …}``.

The detail is a sentence the client can act on, and it never echoes the input. The reasons a SMILES is rejected
for are the labels of ``molpipe_serve_invalid_smiles_total``, so they are kept to a known set (:func:`reason_of`).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from molpipe.chem.reasons import Reason
from molpipe.config import ServeOptions
from molpipe.serve.metrics import ServeMetrics
from molpipe.serve.middleware import RequestContext
from molpipe.serve.runner import MODEL_ERROR, WORKER_CRASHED

log = logging.getLogger("molpipe.serve")

EMPTY, TOO_LONG = "empty", "too_long"
REASONS = {r.value for r in Reason} | {EMPTY, TOO_LONG, WORKER_CRASHED, MODEL_ERROR, "not_a_string"}


def error_response(
    status: int, detail: str, *, context: RequestContext, headers: dict[str, str] | None = None, **fields: Any
) -> JSONResponse:
    """The error body, with the request id so that a client's report can be matched to the log line."""
    return JSONResponse(
        {"detail": detail, "request_id": context.request_id, **fields}, status_code=status, headers=headers
    )


def item_error(smiles: str, *, max_length: int) -> str | None:
    """Why a batch item is not sent to the model (empty, or over ``max_length``), as that item's error; else None."""
    if not smiles:
        return f"{EMPTY}: no SMILES given"
    if len(smiles) > max_length:
        return f"{TOO_LONG}: {len(smiles):,} characters > serve.max_smiles_length={max_length:,}"
    return None


def reason_of(error: str | None) -> str:
    """The reason an error starts with (``unparsable: …`` -> ``unparsable``), or ``other``: a bounded metric label."""
    reason = (error or "").split(":", 1)[0]
    return reason if reason in REASONS else "other"


def problem(error: dict[str, Any], *, options: ServeOptions, content_type: str) -> dict[str, Any]:
    """One pydantic error as {field, message, type}, in words a client can act on (never echoing the input)."""
    kind = error["type"]
    field = ".".join(str(part) for part in error["loc"][1:] if isinstance(part, str) or kind != "json_invalid")
    context = error.get("ctx") or {}
    if not field and kind in ("missing", "model_attributes_type", "dict_type"):
        if not content_type.endswith("json"):
            message = f"send the body as JSON with Content-Type: application/json (got {content_type[:60]!r})"
        else:
            message = 'request body must be a JSON object such as {"smiles": "CCO"}'
        return {"field": "", "message": message, "type": kind}
    messages = {
        "missing": "is required",
        "string_type": "must be a string",
        "string_too_short": "must not be empty",
        "string_too_long": f"is longer than serve.max_smiles_length={options.max_smiles_length:,} characters",
        "list_type": "must be a list of SMILES strings",
        "too_short": "must hold at least one SMILES",
        "too_long": f"holds {context.get('actual_length', 'too many')} SMILES; the limit is "
        f"serve.max_batch={options.max_batch:,}",
        "extra_forbidden": "is not a known field",
        "json_invalid": f"request body is not valid JSON ({context.get('error', 'parse error')})",
    }
    return {"field": field, "message": messages.get(kind, error.get("msg", "is invalid")), "type": kind}


async def invalid_request(
    request: Request, exc: RequestValidationError, *, options: ServeOptions, metrics: ServeMetrics
) -> JSONResponse:
    """A body that fails the request model: 422 naming each field; an empty or overlong SMILES is also counted."""
    context: RequestContext = request.scope["molpipe"]
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    problems = [problem(error, options=options, content_type=content_type) for error in exc.errors()]
    for each in problems:
        if each["field"] == "smiles" and each["type"] in ("string_too_short", "string_too_long"):
            metrics.rejected(EMPTY if each["type"] == "string_too_short" else TOO_LONG)
    detail = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
    return error_response(422, detail, context=context, errors=problems)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: 500 with the request id only (the traceback goes to the log, never to the client)."""
    context: RequestContext | None = request.scope.get("molpipe")
    request_id = context.request_id if context else None
    log.error("unhandled error", exc_info=exc, extra={"fields": {"event": "error", "request_id": request_id}})
    return JSONResponse({"detail": "internal error", "request_id": request_id}, status_code=500)


def add_error_handlers(app: FastAPI, *, options: ServeOptions, metrics: ServeMetrics) -> None:
    """Answer malformed bodies and unhandled errors with the error body instead of FastAPI's defaults."""
    app.add_exception_handler(
        RequestValidationError, functools.partial(invalid_request, options=options, metrics=metrics)
    )
    app.add_exception_handler(Exception, internal_error)
