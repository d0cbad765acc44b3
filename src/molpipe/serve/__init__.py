"""``molpipe serve``: an online REST service for SMILES predictions from the registry's ``champion``.

One module a job: :mod:`~molpipe.serve.app` (routes and wiring), :mod:`~molpipe.serve.model_store` (registry alias
-> loaded model, watched and hot-swapped), :mod:`~molpipe.serve.runner` (where predictions run: in-process or a
process pool), :mod:`~molpipe.serve.schemas` (request/response bodies), :mod:`~molpipe.serve.middleware` (request
id, bounded body, metrics, log line), :mod:`~molpipe.serve.metrics` (Prometheus), :mod:`~molpipe.serve.logs`
(JSON logs), :mod:`~molpipe.serve.security` (bearer token, CORS), :mod:`~molpipe.serve.server` (uvicorn) and
:mod:`~molpipe.serve.healthcheck` (the container's health probe). Settings: ``[serve]`` in :mod:`molpipe.config`.
"""
