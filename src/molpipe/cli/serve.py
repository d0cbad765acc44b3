"""``molpipe serve``: the REST API for predictions, a long-running service rather than a job (no ``--json``)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from molpipe.config import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    help = "REST API for SMILES predictions from a registered model; follows the alias when it moves"
    p = sub.add_parser("serve", help=help, description=help)
    p.add_argument("--model", help="NAME@alias (watched), NAME/version or NAME (= NAME@champion); default serve.model")
    p.add_argument("--host", help="interface to listen on (default serve.host: 127.0.0.1)")
    p.add_argument("--port", type=int, help="default serve.port: 8000")
    p.add_argument(
        "--workers", type=int, help="prediction processes: 0 (default) one per core; N a pool of N; 1 the server's own"
    )
    p.add_argument("--threads", type=int, help="with --workers 1: prediction threads in the server (default 8)")
    p.add_argument(
        "--micro-batch",
        type=int,
        help="molecules of waiting requests predicted in one call while busy (default 1: off)",
    )
    p.add_argument("--poll-s", type=float, help="seconds between registry checks of the alias (0: never)")
    p.set_defaults(handler=_serve)


def _serve(args, settings: Settings) -> dict[str, Any]:
    from molpipe.serve.server import serve

    flags = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "threads": args.threads,
        "micro_batch": args.micro_batch,
        "poll_s": args.poll_s,
    }
    options = dataclasses.replace(settings.serve, **{k: v for k, v in flags.items() if v is not None})
    serve(settings.replace(serve=options), args.model)
    return {}
