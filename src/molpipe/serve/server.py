"""Run the service under uvicorn: registry wiring, a fail-fast check of the model reference, JSON logs."""

from __future__ import annotations

import logging
import os

from molpipe.config import ServeOptions, Settings
from molpipe.registry.reference import ModelRef

log = logging.getLogger("molpipe.serve")


def configure_registry(settings: Settings) -> bool:
    """Point MLflow at molpipe's registry (local sqlite under $MOLPIPE_HOME, or Databricks with Unity Catalog);
    an explicit ``MLFLOW_TRACKING_URI`` (e.g. a central MLflow server) wins. True on Databricks."""
    import mlflow

    from molpipe.registry import tracking
    from molpipe.runtime.engine import is_databricks

    databricks = is_databricks()
    tracking.configure(settings, databricks)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(os.environ.get("MLFLOW_REGISTRY_URI") or os.environ["MLFLOW_TRACKING_URI"])
    return databricks


def model_ref(text: str, settings: Settings, databricks: bool) -> ModelRef:
    """The reference of ``--model``; a bare name becomes ``catalog.schema.name`` on Databricks."""
    ref = ModelRef.parse(text)
    return ref.registered(settings=settings, databricks=True) if databricks else ref


def serve(settings: Settings, model: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM (then finish the requests in flight)."""
    import uvicorn

    from molpipe.serve.app import create_app
    from molpipe.serve.logs import configure_logging

    options: ServeOptions = settings.serve
    model = model or options.model
    if not model:
        raise ValueError("no model to serve: give --model NAME@champion (or set serve.model / MOLPIPE_SERVE__MODEL)")
    ref = model_ref(model, settings, configure_registry(settings))
    version = str(ref.resolve().version)  # a typo in the name or alias fails here, not in the background
    log_config = configure_logging()
    log.info("resolved", extra={"fields": {"event": "resolved", "model": str(ref), "version": version}})
    app = create_app(ref, options)
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        log_config=log_config,
        access_log=False,
        server_header=False,
        limit_concurrency=options.max_concurrency,
        timeout_graceful_shutdown=int(max(options.timeout_s, 1)),
    )
