"""The routes: what each one does (:class:`Handlers`) and how it is published (:func:`add_routes`).

The work is kept apart from the publishing so that it can be called, and tested, without HTTP; the publishing holds
what the OpenAPI description shows: paths, request models, response models and the status codes a client can get.

No ``from __future__ import annotations`` here: FastAPI reads the request models (built per app, so local names)
from the endpoints' annotations at run time.
"""

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from molpipe.config import ServeOptions
from molpipe.serve import schemas
from molpipe.serve.errors import error_response, item_error, reason_of
from molpipe.serve.metrics import ServeMetrics
from molpipe.serve.middleware import RequestContext
from molpipe.serve.model_store import ModelStore, NotReady, ServedModel


class Handlers:
    """The routes' work over one app's model store, metrics and options.

    A handler fills the request's :class:`~molpipe.serve.middleware.RequestContext` (model, version, counts) for
    the envelope's log line and headers, and answers either a body for the route's response model or, for what
    the client or the server's state caused, an error response.
    """

    def __init__(self, *, store: ModelStore, metrics: ServeMetrics, options: ServeOptions):
        self.store = store
        self.metrics = metrics
        self.options = options

    async def predict(self, smiles: str, *, context: RequestContext) -> dict[str, Any] | JSONResponse:
        """One SMILES; an invalid one is 422 with the chemistry's reason, since it is the client's to fix."""
        context.n_smiles = 1
        if self.options.log_smiles:
            context.smiles = [smiles]
        try:
            served, (row,) = await self._run([smiles], context=context)
        except (NotReady, TimeoutError) as exc:
            return self._failure(exc, context=context)
        self.metrics.molecules.labels("valid" if row["valid"] else "invalid").inc()
        if not row["valid"]:
            context.n_invalid = 1
            reason = reason_of(row["error"])
            self.metrics.rejected(reason)
            return error_response(
                422, row["error"], context=context, reason=reason, model=served.name, version=served.version
            )
        predictions = row["predictions"]
        return {
            "smiles": row["smiles"],
            "standardized_smiles": row["standardized_smiles"],
            "inchikey": row["inchikey"],
            "prediction": predictions[served.labels[0]],
            "predictions": predictions,
            "intervals": row["intervals"],
            "model": served.name,
            "version": served.version,
        }

    async def predict_batch(self, items: list[str], *, context: RequestContext) -> dict[str, Any] | JSONResponse:
        """Each item its own result or error, so one bad SMILES never costs a client the rest of its batch; items
        that fail the length checks are answered without the model."""
        context.n_smiles = len(items)
        if self.options.log_smiles:
            context.smiles = list(items)
        errors = {i: item_error(s, max_length=self.options.max_smiles_length) for i, s in enumerate(items)}
        errors = {i: e for i, e in errors.items() if e}
        todo = [i for i in range(len(items)) if i not in errors]
        try:
            served, rows = await self._run([items[i] for i in todo], context=context) if todo else (self._served(), [])
        except (NotReady, TimeoutError) as exc:
            return self._failure(exc, context=context)
        context.model, context.version = served.name, served.version
        by_index = dict(zip(todo, rows))
        results = []
        for i, smiles in enumerate(items):
            row = by_index.get(i) or {"valid": False, "error": errors[i], "predictions": {}, "intervals": {}}
            if not row["valid"]:
                self.metrics.rejected(reason_of(row["error"]))
            predictions = row["predictions"]
            results.append(
                {
                    "index": i,
                    "smiles": smiles,
                    "valid": row["valid"],
                    "error": row["error"],
                    "standardized_smiles": row.get("standardized_smiles"),
                    "inchikey": row.get("inchikey"),
                    "prediction": predictions.get(served.labels[0]),
                    "predictions": predictions,
                    "intervals": row["intervals"],
                }
            )
        n_valid = sum(r["valid"] for r in results)
        context.n_invalid = len(results) - n_valid
        self.metrics.molecules.labels("valid").inc(n_valid)
        self.metrics.molecules.labels("invalid").inc(context.n_invalid)
        return {
            "model": served.name,
            "version": served.version,
            "n": len(results),
            "n_valid": n_valid,
            "n_invalid": context.n_invalid,
            "results": results,
        }

    def ready(self) -> dict[str, Any] | JSONResponse:
        """200 with the model once one is loaded, 503 before: a load balancer sends no traffic to a 503."""
        served = self.store.current
        if served is None:
            detail = self.store.last_error or f"model {self.store.ref} is loading"
            return JSONResponse({"ready": False, "detail": detail}, status_code=503)
        return {"ready": True, **served.info()}

    def prometheus(self) -> Response:
        """This app's metrics only (its own registry), so several apps in one process do not mix their counts."""
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    async def _run(self, smiles: list[str], *, context: RequestContext) -> tuple[ServedModel, list[dict[str, Any]]]:
        with self.store.lease() as served:
            context.model, context.version = served.name, served.version
            async with asyncio.timeout(self.options.timeout_s):
                return served, await served.runner.predict(smiles)

    def _served(self) -> ServedModel:
        served = self.store.current
        if served is None:
            raise NotReady(self.store.last_error or "model is loading")
        return served

    def _failure(self, exc: Exception, *, context: RequestContext) -> JSONResponse:
        if isinstance(exc, NotReady):
            return error_response(503, f"no model loaded yet: {exc}", context=context, headers={"Retry-After": "5"})
        timeout = f"prediction did not finish within {self.options.timeout_s:g} s (serve.timeout_s)"
        return error_response(504, timeout, context=context)


def add_routes(app: FastAPI, *, handlers: Handlers, protected: list) -> None:
    """Publish the handlers; ``protected`` are the dependencies that enforce the bearer token (none when it is off).

    The endpoints only unpack the request: their names, summaries and annotations are what the OpenAPI shows.
    """
    single_model, batch_model = schemas.request_models(handlers.options)

    @app.post(
        "/predict",
        response_model=schemas.Prediction,
        dependencies=protected,
        summary="Predict one SMILES",
        responses=_prediction_errors(
            schemas.InvalidSmiles | schemas.InvalidBody, "invalid SMILES (with the reason) or a malformed body"
        ),
    )
    async def predict(body: single_model, request: Request):  # type: ignore[valid-type]
        return await handlers.predict(body.smiles, context=request.scope["molpipe"])

    @app.post(
        "/predict/batch",
        response_model=schemas.BatchPrediction,
        dependencies=protected,
        summary="Predict a batch of SMILES, each with its own result or error",
        responses=_prediction_errors(
            schemas.InvalidBody, "malformed body: not a list of strings, empty, or over serve.max_batch SMILES"
        ),
    )
    async def predict_batch(body: batch_model, request: Request):  # type: ignore[valid-type]
        return await handlers.predict_batch(body.smiles, context=request.scope["molpipe"])

    @app.get("/health", summary="Liveness: the process answers")
    async def health():
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Readiness: a model is loaded",
        response_model=schemas.Ready,
        responses=schemas.describe({503: (schemas.Ready, "no model loaded yet")}),
    )
    async def ready():
        return handlers.ready()

    @app.get(
        "/metrics",
        dependencies=protected,
        summary="Prometheus metrics",
        response_class=Response,
        responses=schemas.describe({401: _UNAUTHORIZED}),
    )
    async def prometheus():
        return handlers.prometheus()


_UNAUTHORIZED = (schemas.ErrorBody, "missing or wrong bearer token (when auth is on)")


def _prediction_errors(invalid: Any, text: str) -> dict:
    return schemas.describe(
        {
            422: (invalid, text),
            400: (schemas.ErrorBody, "body is not UTF-8 text (as JSON must be)"),
            401: _UNAUTHORIZED,
            408: (schemas.ErrorBody, "body not received within serve.timeout_s"),
            413: (schemas.ErrorBody, "body over serve.max_body_bytes"),
            503: (schemas.ErrorBody, "no model loaded yet, or serve.max_concurrency requests already in flight"),
            504: (schemas.ErrorBody, "prediction took longer than serve.timeout_s"),
        }
    )
