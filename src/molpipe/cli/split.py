"""``molpipe split``: train/valid/test and the held-out pool of a library."""

from __future__ import annotations

import argparse
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings
from molpipe.runtime import locks


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "split", "assign train/valid/test and the unlabeled/held-out pool")
    p.add_argument("--library", required=True)
    p.add_argument("--split", dest="method", choices=["scaffold", "random"], help="default: scaffold")
    p.add_argument("--pool-fraction", type=float, help="fraction of labeled molecules held out into the pool")
    p.add_argument("--seed", type=int)
    p.add_argument("--fractions", help="train,valid,test fractions (default 0.8,0.1,0.1)")
    p.set_defaults(handler=_split)


def _split(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.split.assign import Fractions
    from molpipe.split.job import split

    options = settings.split
    fractions = Fractions(options.train, options.valid, options.test)
    if args.fractions:
        parts = args.fractions.split(",")
        try:
            values = [float(x) for x in parts]
        except ValueError:
            values = []
        if len(values) != 3:
            raise ValueError(f"--fractions takes three numbers train,valid,test; got {args.fractions!r}")
        fractions = Fractions(*values)
    with locks.exclusive(settings, f"library-{args.library}", job="split"), session(settings) as (_, catalog):
        summary = split(
            catalog,
            library=args.library,
            method=args.method or options.method,
            fractions=fractions,
            pool_fraction=options.pool_fraction if args.pool_fraction is None else args.pool_fraction,
            seed=options.seed if args.seed is None else args.seed,
        )
    return report(args, summary)
