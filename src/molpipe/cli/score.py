"""``molpipe score``: a library's pool scored by a registered model into ``candidates``, ranked."""

from __future__ import annotations

import argparse
import dataclasses
from contextlib import nullcontext
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings
from molpipe.runtime import locks


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "score", "score the library's pool with a registered model into the candidates table, ranked")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True, help="NAME@alias, NAME/VERSION or NAME (its champion)")
    p.add_argument("--acquisition", help="greedy, ucb, ei, thompson or random (default: [score] acquisition)")
    p.add_argument("--uncertainty", choices=["auto", "ensemble", "mc-dropout", "none"])
    p.add_argument("--direction", choices=["maximize", "minimize"], help="which predicted values are wanted")
    p.add_argument("--label", help="label to score (multi-task models; default the first)")
    p.add_argument("--split-id", help="split whose pool is scored (default: the model's, or the library's latest)")
    p.add_argument("--run-id", help="re-run this scoring run (its rows are replaced)")
    p.add_argument("--workers", type=int, help="worker processes (default: auto)")
    p.set_defaults(handler=_score)


def _score(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime import parallel
    from molpipe.runtime.engine import session, udf_workers
    from molpipe.score import WORKER_MODULES

    # the worker processes start first: their forkserver imports torch, RDKit and the model code on another core
    # while this process imports the job and MLflow (seconds each, most of a small pool's start-up)
    if args.workers is not None:
        settings = settings.replace(workers=args.workers)
    workers = udf_workers(settings)
    parallel.warm(None, workers, WORKER_MODULES)
    from molpipe.score.job import score, translate_engine_error

    flags = {"acquisition": args.acquisition, "uncertainty": args.uncertainty, "direction": args.direction}
    options = dataclasses.replace(settings.score, **{k: v for k, v in flags.items() if v})
    # a run scored again replaces its rows (DELETE, then append): two at once would both append
    run = locks.exclusive(settings, f"scoring-run-{args.run_id}", job="score") if args.run_id else nullcontext()
    with run, session(settings, options.engine_partitions, options.engine_memory_mb) as (_, catalog):
        try:
            summary = score(
                catalog,
                library=args.library,
                model=args.model,
                options=options,
                workers=workers,
                run_id=args.run_id,
                split_id=args.split_id,
                label=args.label,
            )
        except Exception as exc:
            translated = translate_engine_error(exc, options=options)
            if translated is None:
                raise
            raise translated from None
    return report(args, summary)
