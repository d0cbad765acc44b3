"""``molpipe ingest`` (a library file into ``library_raw``) and ``molpipe landing`` (each file of a folder through
a command)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from molpipe.cli.common import as_dict, job, report
from molpipe.config import Settings
from molpipe.runtime import locks


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "ingest", "read a library file (CSV, CSV.gz, TSV, SMILES, SDF, SDF.gz, Parquet) into library_raw")
    p.add_argument("path")
    p.add_argument("--library", required=True, help="library name (letters, digits, '_', '-')")
    p.add_argument("--smiles-col", help="column holding SMILES (auto-detected when unambiguous; SDF: the molblock)")
    p.add_argument("--id-col", help="column holding the compound id")
    p.add_argument("--label-cols", default="", help="comma-separated numeric label columns")
    p.add_argument("--format", choices=["csv", "tsv", "smi", "sdf", "parquet"], help="override the extension")
    p.set_defaults(handler=_ingest)

    p = job(
        sub,
        "landing",
        "hand each file waiting in a landing folder to a command (ingest, ingest-results), then "
        "move it out to _processed/ or _failed/ beside the folder (file-arrival jobs)",
    )
    p.add_argument("folder")
    p.add_argument("--then", required=True, choices=["ingest", "ingest-results"], help="the command for each file")
    p.add_argument("--library", required=True)
    for flag in ("--smiles-col", "--id-col", "--label-cols", "--format"):
        p.add_argument(flag, help=f"passed on to the command as {flag}")
    # the subcommands by name, complete once every module has added its own: --then runs one of them
    p.set_defaults(handler=partial(_landing, commands=sub.choices))


def _ingest(args, settings: Settings) -> dict[str, Any]:
    from molpipe.ingest.job import ingest
    from molpipe.runtime.engine import session

    labels = [c.strip() for c in args.label_cols.split(",") if c.strip()]
    # its own lock, not the library's: a new file may land while featurize works on the earlier ones
    with locks.exclusive(settings, f"ingest-{args.library}", job="ingest"), session(settings) as (_, catalog):
        summary = ingest(
            catalog,
            path=args.path,
            library=args.library,
            fmt=args.format,
            smiles_col=args.smiles_col,
            id_col=args.id_col,
            label_cols=labels,
        )
    return report(args, summary)


def _landing(args, settings: Settings, *, commands: dict[str, argparse.ArgumentParser]) -> dict[str, Any]:
    from molpipe.ingest.landing import process_landing

    forwarded = ["--library", args.library]
    for flag in ("smiles_col", "id_col", "label_cols", "format"):
        if getattr(args, flag) is not None:
            forwarded += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    parser = commands[args.then]
    parser.parse_args(["FILE", *forwarded])  # a bad flag fails here, before any file is touched

    def run(path) -> dict[str, Any]:
        then = parser.parse_args([str(path), *forwarded])
        return then.handler(then, settings)

    with locks.exclusive(settings, f"landing-{Path(args.folder).resolve()}", job="landing"):
        summary = process_landing(args.folder, args.then, run)
    if not args.json:
        print(summary.describe())
    if summary.failed:
        failures = "; ".join(f"{f['file']}: {f['error']}" for f in summary.files if f["status"] == "failed")
        raise ValueError(f"{summary.failed} of {len(summary.files)} file(s) failed (moved to _failed/): {failures}")
    return as_dict(summary)
