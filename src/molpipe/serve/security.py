"""Bearer-token authentication and CORS, both off unless configured.

The token is never in the config file or on the command line (where ``ps`` and shell history would show it): it
comes from a mounted secret file (``serve.auth_token_file``, e.g. ``/run/secrets/molpipe_serve_token``) or from
the environment variable named by ``serve.auth_token_env`` (default ``MOLPIPE_SERVE_TOKEN``). Either one set
turns authentication on for the prediction and metrics routes; health and readiness stay open for probes.

No ``from __future__ import annotations``: FastAPI reads the dependency (a local name) from the annotation.
"""

import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from molpipe.config import ServeOptions


def resolve_token(options: ServeOptions, environ: Mapping[str, str] | None = None) -> str | None:
    """The expected bearer token, or None (authentication off)."""
    environ = os.environ if environ is None else environ
    if options.auth_token_file:
        path = Path(options.auth_token_file)
        if not path.is_file():
            raise ValueError(f"serve.auth_token_file {path} does not exist")
        token = path.read_text().strip()
        if not token:
            raise ValueError(f"serve.auth_token_file {path} is empty")
        return token
    token = environ.get(options.auth_token_env, "").strip() if options.auth_token_env else ""
    return token or None


def bearer_dependencies(token: str | None) -> list:
    """Route dependencies enforcing the token (shown in the OpenAPI docs as HTTP bearer); none when off."""
    if token is None:
        return []
    scheme = HTTPBearer(auto_error=False, description="the token in serve.auth_token_env / serve.auth_token_file")
    expected = token.encode()

    def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)]) -> None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401, "missing bearer token (Authorization: Bearer <token>)", headers={"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(
                401, "invalid bearer token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )

    return [Depends(require_token)]


def cors_origins(options: ServeOptions) -> list[str]:
    return [origin.strip() for origin in options.cors_origins.split(",") if origin.strip()]
