"""``molpipe serve``: an online REST service for SMILES predictions from the registry's ``champion``.

One module a job: :mod:`~molpipe.serve.app` (wiring: model store, routes, error handlers, middleware, lifespan),
:mod:`~molpipe.serve.routes` (what each route does, and its OpenAPI description), :mod:`~molpipe.serve.errors`
(error bodies, validation messages), :mod:`~molpipe.serve.model_store` (registry alias -> loaded model, watched and
hot-swapped), :mod:`~molpipe.serve.runner` (where predictions run: in-process or a process pool, behind the
:mod:`~molpipe.serve.runner_base` interface), :mod:`~molpipe.serve.batching` (micro-batching),
:mod:`~molpipe.serve.schemas` (request/response bodies), :mod:`~molpipe.serve.middleware` (request id, bounded body,
metrics, log line), :mod:`~molpipe.serve.metrics` (Prometheus), :mod:`~molpipe.serve.logs` (JSON logs),
:mod:`~molpipe.serve.security` (bearer token, CORS), :mod:`~molpipe.serve.server` (uvicorn) and
:mod:`~molpipe.serve.healthcheck` (the container's health probe). Settings: ``[serve]`` in :mod:`molpipe.config`.
"""
