"""The FastAPI application: routes, error handling and wiring (model store, metrics, auth, CORS, envelope).

Every failure a client can cause is a 4xx with a sentence saying what was wrong: an invalid SMILES is 422 with
the chemistry's reason, a malformed body 422 naming the field, a body over the limit 413, a slow body 408, a
missing token 401. 5xx is left for the server's own state: 503 while no model is loaded (or when
``serve.max_concurrency`` requests are already in flight), 504 when a prediction outlives ``serve.timeout_s``.

No ``from __future__ import annotations`` here: FastAPI reads the request models (built per app, so local names)
from the endpoints' annotations at run time.
"""

import asyncio
import logging
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from molpipe import __version__
from molpipe.chem.reasons import Reason
from molpipe.config import ServeOptions
from molpipe.serve import schemas
from molpipe.serve.metrics import ServeMetrics
from molpipe.serve.middleware import RequestContext, RequestEnvelope
from molpipe.serve.model_store import ModelRef, ModelStore, NotReady, ServedModel
from molpipe.serve.runner import MODEL_ERROR, WORKER_CRASHED
from molpipe.serve.security import bearer_dependencies, cors_origins, resolve_token

log = logging.getLogger("molpipe.serve")

EMPTY, TOO_LONG = "empty", "too_long"
REASONS = {r.value for r in Reason} | {EMPTY, TOO_LONG, WORKER_CRASHED, MODEL_ERROR, "not_a_string"}


def create_app(
    model: str | ModelRef,
    options: ServeOptions | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """The service for ``model`` (``NAME@alias``, ``NAME/version`` or a :class:`ModelRef`); the bearer token is
    read from ``environ`` (default ``os.environ``) or the secret file, as ``options`` say. The model loads in the
    background once the app starts (``/ready`` says when)."""
    options = options or ServeOptions()
    ref = model if isinstance(model, ModelRef) else ModelRef.parse(model)
    token = resolve_token(options, environ)
    metrics = ServeMetrics()

    def swapped(new: ServedModel, old: ServedModel | None) -> None:
        metrics.model_loaded(new.name, new.version, new.alias, swapped=old is not None)

    store = ModelStore(ref, workers=options.workers, threads=options.threads, micro_batch=options.micro_batch,
                       poll_s=options.poll_s,
                       grace_s=max(2 * options.timeout_s, 10), on_swap=swapped,
                       on_error=lambda _: metrics.load_failures.inc())  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log.info("starting", extra={"fields": {"event": "start", "model": str(ref), "auth": "bearer" if token else "off",
                 "cors": cors_origins(options) or "off", "workers": options.workers, "threads": options.threads,
                 "poll_s": options.poll_s,
                 "log_smiles": options.log_smiles}})  # fmt: skip
        store.start()
        try:
            yield
        finally:
            await asyncio.to_thread(store.stop)

    app = FastAPI(
        title="molpipe serve",
        version=__version__,
        description=f"Predictions for SMILES from the registered model `{ref}`. Every prediction names the registry "
        "version that made it; the service follows the alias when it moves (promote, rollback).",
        lifespan=lifespan,
    )
    app.state.store, app.state.metrics, app.state.options = store, metrics, options
    protected = bearer_dependencies(token)
    single_model, batch_model = schemas.request_models(options)

    async def run(context: RequestContext, smiles: list[str]) -> tuple[ServedModel, list[dict[str, Any]]]:
        with store.lease() as served:
            context.model, context.version = served.name, served.version
            async with asyncio.timeout(options.timeout_s):
                return served, await served.runner.predict(smiles)

    def failure(exc: Exception, context: RequestContext) -> JSONResponse:
        if isinstance(exc, NotReady):
            return _error(503, f"no model loaded yet: {exc}", context, headers={"Retry-After": "5"})
        return _error(504, f"prediction did not finish within {options.timeout_s:g} s (serve.timeout_s)", context)

    @app.post(
        "/predict",
        response_model=schemas.Prediction,
        dependencies=protected,
        summary="Predict one SMILES",
        responses=_prediction_errors(schemas.InvalidSmiles, "invalid SMILES (with the reason) or a malformed body"),
    )
    async def predict(body: single_model, request: Request):  # type: ignore[valid-type]
        context: RequestContext = request.scope["molpipe"]
        context.n_smiles = 1
        if options.log_smiles:
            context.smiles = [body.smiles]
        try:
            served, (row,) = await run(context, [body.smiles])
        except (NotReady, TimeoutError) as exc:
            return failure(exc, context)
        metrics.molecules.labels("valid" if row["valid"] else "invalid").inc()
        if not row["valid"]:
            context.n_invalid = 1
            reason = _reason(row["error"])
            metrics.rejected(reason)
            return _error(422, row["error"], context, reason=reason, model=served.name, version=served.version)
        predictions = row["predictions"]
        return {"smiles": row["smiles"], "standardized_smiles": row["standardized_smiles"],
                "inchikey": row["inchikey"], "prediction": predictions[served.labels[0]], "predictions": predictions,
                "model": served.name, "version": served.version}  # fmt: skip

    @app.post(
        "/predict/batch",
        response_model=schemas.BatchPrediction,
        dependencies=protected,
        summary="Predict a batch of SMILES, each with its own result or error",
        responses=_prediction_errors(
            schemas.ErrorBody, "malformed body: not a list of strings, empty, or over serve.max_batch SMILES"
        ),
    )
    async def predict_batch(body: batch_model, request: Request):  # type: ignore[valid-type]
        context: RequestContext = request.scope["molpipe"]
        items: list[str] = body.smiles
        context.n_smiles = len(items)
        if options.log_smiles:
            context.smiles = list(items)
        errors = {i: _item_error(s, options) for i, s in enumerate(items)}
        errors = {i: e for i, e in errors.items() if e}
        todo = [i for i in range(len(items)) if i not in errors]
        try:
            served, rows = await run(context, [items[i] for i in todo]) if todo else (_served(store), [])
        except (NotReady, TimeoutError) as exc:
            return failure(exc, context)
        context.model, context.version = served.name, served.version
        by_index = dict(zip(todo, rows))
        results = []
        for i, smiles in enumerate(items):
            row = by_index.get(i) or {"valid": False, "error": errors[i], "predictions": {}}
            if not row["valid"]:
                metrics.rejected(_reason(row["error"]))
            predictions = row["predictions"]
            results.append({"index": i, "smiles": smiles, "valid": row["valid"], "error": row["error"],
                            "standardized_smiles": row.get("standardized_smiles"), "inchikey": row.get("inchikey"),
                            "prediction": predictions.get(served.labels[0]), "predictions": predictions})  # fmt: skip
        n_valid = sum(r["valid"] for r in results)
        context.n_invalid = len(results) - n_valid
        metrics.molecules.labels("valid").inc(n_valid)
        metrics.molecules.labels("invalid").inc(context.n_invalid)
        return {"model": served.name, "version": served.version, "n": len(results), "n_valid": n_valid,
                "n_invalid": context.n_invalid, "results": results}  # fmt: skip

    @app.get("/health", summary="Liveness: the process answers")
    async def health():
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: a model is loaded", response_model=schemas.Ready,
             responses=schemas.describe({503: (schemas.Ready, "no model loaded yet")}))  # fmt: skip
    async def ready():
        served = store.current
        if served is None:
            detail = store.last_error or f"model {ref} is loading"
            return JSONResponse({"ready": False, "detail": detail}, status_code=503)
        return {"ready": True, **served.info()}

    @app.get("/metrics", dependencies=protected, summary="Prometheus metrics", response_class=Response)
    async def prometheus():
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        context: RequestContext = request.scope["molpipe"]
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        problems = [_problem(error, options, content_type) for error in exc.errors()]
        for problem in problems:
            if problem["field"] == "smiles" and problem["type"] in ("string_too_short", "string_too_long"):
                metrics.rejected(EMPTY if problem["type"] == "string_too_short" else TOO_LONG)
        detail = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
        return _error(422, detail, context, errors=problems)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        context: RequestContext | None = request.scope.get("molpipe")
        request_id = context.request_id if context else None
        log.error("unhandled error", exc_info=exc, extra={"fields": {"event": "error", "request_id": request_id}})
        return JSONResponse({"detail": "internal error", "request_id": request_id}, status_code=500)

    app.add_middleware(RequestEnvelope, metrics=metrics, max_body_bytes=options.max_body_bytes,
                       timeout_s=options.timeout_s, log_smiles=options.log_smiles,
                       routes={route.path for route in app.routes})  # fmt: skip
    origins = cors_origins(options)
    if origins:  # outermost, so that the envelope's own answers (413, 408) carry the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "X-Model-Name", "X-Model-Version"])  # fmt: skip
    return app


def _prediction_errors(invalid: type, text: str) -> dict:
    return schemas.describe({
        422: (invalid, text),
        401: (schemas.ErrorBody, "missing or wrong bearer token (when auth is on)"),
        408: (schemas.ErrorBody, "body not received within serve.timeout_s"),
        413: (schemas.ErrorBody, "body over serve.max_body_bytes"),
        503: (schemas.ErrorBody, "no model loaded yet, or serve.max_concurrency requests already in flight"),
        504: (schemas.ErrorBody, "prediction took longer than serve.timeout_s"),
    })  # fmt: skip


def _served(store: ModelStore) -> ServedModel:
    served = store.current
    if served is None:
        raise NotReady(store.last_error or "model is loading")
    return served


def _item_error(smiles: str, options: ServeOptions) -> str | None:
    if not smiles:
        return f"{EMPTY}: no SMILES given"
    if len(smiles) > options.max_smiles_length:
        return f"{TOO_LONG}: {len(smiles):,} characters > serve.max_smiles_length={options.max_smiles_length:,}"
    return None


def _reason(error: str | None) -> str:
    reason = (error or "").split(":", 1)[0]
    return reason if reason in REASONS else "other"


def _problem(error: dict[str, Any], options: ServeOptions, content_type: str) -> dict[str, Any]:
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


def _error(status: int, detail: str, context: RequestContext, headers: dict[str, str] | None = None,
           **fields: Any) -> JSONResponse:  # fmt: skip
    return JSONResponse({"detail": detail, "request_id": context.request_id, **fields}, status_code=status,
                        headers=headers)  # fmt: skip
