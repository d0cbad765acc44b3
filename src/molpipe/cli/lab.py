"""``molpipe select`` (the lab batch from a scoring run) and ``molpipe ingest-results`` (the lab's measurements
back into the library and its training split)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings
from molpipe.runtime import locks


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "select", "pick the lab batch from a scoring run: filtered, diverse, a CSV and an HTML report")
    p.add_argument("--run", required=True, help="scoring run id (see the candidates table)")
    p.add_argument("--k", type=int, help="molecules in the batch (default: [select] k)")
    p.add_argument("--strategy", help="acquisition to rank by (default: the run's own)")
    p.add_argument(
        "--filters",
        help="drug-like, lead-like, fragment, none, or a CSV of named SMARTS (name,smarts) added to the configured "
        "profile (default: [filters] profile)",
    )
    p.add_argument("--diversity", help="butina, sphere, maxmin, scaffold or none (default: [select] diversity)")
    p.add_argument("--similarity", type=float, help="butina/sphere Tanimoto threshold (default: [select] similarity)")
    p.add_argument("--max-per-scaffold", type=int, help="cap per Murcko scaffold, 0: none ([select] max_per_scaffold)")
    p.add_argument("--out", default="reports", help="folder for the batch files (default ./reports)")
    p.set_defaults(handler=_select)

    p = job(
        sub, "ingest-results", "merge the lab's measurements back: history, labels, and training for the next model"
    )
    p.add_argument("path")
    p.add_argument("--library", required=True)
    p.add_argument("--label-cols", required=True, help="comma-separated measured columns")
    p.add_argument("--smiles-col")
    p.add_argument("--id-col")
    p.add_argument("--split-id", help="split whose pool the measured molecules leave (default: the latest)")
    p.add_argument("--batch-id", help="the lab batch these results answer (from `molpipe select`)")
    p.add_argument("--workers", type=int)
    p.set_defaults(handler=_ingest_results)


def _select(args, settings: Settings) -> dict[str, Any]:
    from molpipe.lab.select import select
    from molpipe.runtime.engine import session

    given = {
        "k": args.k,
        "diversity": args.diversity,
        "similarity": args.similarity,
        "max_per_scaffold": args.max_per_scaffold,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    with session(settings) as (_, catalog):
        summary = select(
            catalog,
            run_id=args.run,
            options=dataclasses.replace(settings.select, **changes),
            out_dir=args.out,
            strategy=args.strategy,
            filters=args.filters,
        )
    return report(args, summary)


def _ingest_results(args, settings: Settings) -> dict[str, Any]:
    from molpipe.featurize import parse_featurizers
    from molpipe.lab.results import ingest_results
    from molpipe.runtime.engine import session

    labels = [c.strip() for c in args.label_cols.split(",") if c.strip()]
    ingesting = locks.exclusive(settings, f"ingest-{args.library}", job="ingest-results")  # ingest's lock first
    featurizing = locks.exclusive(settings, f"library-{args.library}", job="ingest-results")
    with ingesting, featurizing, session(settings) as (engine, catalog):
        summary = ingest_results(
            catalog,
            path=args.path,
            library=args.library,
            featurizers=parse_featurizers(settings.featurize.featurizers),
            workers=args.workers or engine.udf_workers,
            smiles_col=args.smiles_col,
            id_col=args.id_col,
            label_cols=labels,
            split_id=args.split_id,
            batch_id=args.batch_id,
        )
    return report(args, summary)
