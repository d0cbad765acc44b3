"""``molpipe featurize``: a library's pending loads standardized, de-duplicated and featurized."""

from __future__ import annotations

import argparse
from typing import Any

from molpipe.cli.common import as_dict, job
from molpipe.config import Settings
from molpipe.runtime import locks


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "featurize", "standardize, de-duplicate and featurize a library's pending loads")
    p.add_argument("--library", required=True)
    p.add_argument(
        "--featurizers",
        help="comma-separated featurizer names (default: morgan,rdkit2d,maccs,graph); "
        "parameters after colons, e.g. morgan:radius=3:n_bits=1024",
    )
    p.add_argument("--workers", type=int, help="worker processes for the chemistry (default: auto)")
    p.set_defaults(handler=_featurize)


def _featurize(args, settings: Settings) -> dict[str, Any]:
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.runtime.engine import session

    if args.workers is not None:
        settings = settings.replace(workers=args.workers)
    featurizers = parse_featurizers(args.featurizers or settings.featurize.featurizers)
    with locks.exclusive(settings, f"library-{args.library}", job="featurize"), session(settings) as (engine, catalog):
        summary = featurize(catalog, library=args.library, featurizers=featurizers, workers=engine.udf_workers)
    if not args.json:
        print(summary.describe())
    return as_dict(summary) | {"accounted": summary.accounted, "workers": engine.udf_workers}
