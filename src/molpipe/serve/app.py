"""The FastAPI application: the model store, the routes, the error handling and the middleware, wired together.

Every failure a client can cause is a 4xx with a sentence saying what was wrong: an invalid SMILES is 422 with
the chemistry's reason, a malformed body 422 naming the field, a body over the limit 413, a slow body 408, a
missing token 401. 5xx is left for the server's own state: 503 while no model is loaded (or when
``serve.max_concurrency`` requests are already in flight), 504 when a prediction outlives ``serve.timeout_s``.
The routes are in :mod:`~molpipe.serve.routes`, the error bodies in :mod:`~molpipe.serve.errors`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from molpipe import __version__
from molpipe.config import ServeOptions
from molpipe.registry.reference import ModelRef
from molpipe.serve.errors import add_error_handlers
from molpipe.serve.metrics import ServeMetrics
from molpipe.serve.middleware import RequestEnvelope
from molpipe.serve.model_store import ModelStore, ServedModel
from molpipe.serve.routes import Handlers, add_routes
from molpipe.serve.security import bearer_dependencies, cors_origins, resolve_token

log = logging.getLogger("molpipe.serve")


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
    store = _model_store(ref, options=options, metrics=metrics)
    started = {
        "model": str(ref),
        "auth": "bearer" if token else "off",
        "cors": cors_origins(options) or "off",
        "workers": options.workers,
        "threads": options.threads,
        "poll_s": options.poll_s,
        "log_smiles": options.log_smiles,
    }
    app = FastAPI(
        title="molpipe serve",
        version=__version__,
        description=f"Predictions for SMILES from the registered model `{ref}`. Every prediction names the registry "
        "version that made it; the service follows the alias when it moves (promote, rollback).",
        lifespan=_lifespan(store, log_fields=started),
    )
    app.state.store, app.state.metrics, app.state.options = store, metrics, options
    handlers = Handlers(store=store, metrics=metrics, options=options)
    add_routes(app, handlers=handlers, protected=bearer_dependencies(token))
    add_error_handlers(app, options=options, metrics=metrics)
    _add_middleware(app, metrics=metrics, options=options)
    return app


def _model_store(ref: ModelRef, *, options: ServeOptions, metrics: ServeMetrics) -> ModelStore:
    """The store that loads and swaps ``ref``, reporting each load and failure to ``metrics``."""

    def swapped(new: ServedModel, old: ServedModel | None) -> None:
        metrics.model_loaded(new.name, new.version, new.alias, swapped=old is not None)

    return ModelStore(
        ref,
        workers=options.workers,
        threads=options.threads,
        micro_batch=options.micro_batch,
        poll_s=options.poll_s,
        grace_s=max(2 * options.timeout_s, 10),
        on_swap=swapped,
        on_error=lambda _: metrics.load_failures.inc(),
    )


def _lifespan(store: ModelStore, *, log_fields: dict[str, Any]):
    """Start loading the model when the server starts (not when the app is built), and stop the store (its watcher
    and prediction workers) when the server stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log.info("starting", extra={"fields": {"event": "start", **log_fields}})
        store.start()
        try:
            yield
        finally:
            await asyncio.to_thread(store.stop)

    return lifespan


def _add_middleware(app: FastAPI, *, metrics: ServeMetrics, options: ServeOptions) -> None:
    """The request envelope (id, bounded body, metrics, log line) around the routes, and CORS when configured."""
    app.add_middleware(
        RequestEnvelope,
        metrics=metrics,
        max_body_bytes=options.max_body_bytes,
        timeout_s=options.timeout_s,
        log_smiles=options.log_smiles,
        routes={route.path for route in app.routes},
    )
    origins = cors_origins(options)
    if origins:  # outermost, so that the envelope's own answers (413, 408) carry the CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Model-Name", "X-Model-Version"],
        )
