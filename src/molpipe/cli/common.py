"""What every command module shares: the job subcommand with its ``--json`` flag, and the summary it returns."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def job(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    """A job's subcommand: ``--json`` makes its last stdout line one JSON summary object (what a job task reads)."""
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", help="print one JSON summary object as the last line")
    return p


def as_dict(summary: Any) -> dict[str, Any]:
    return dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else dict(summary)


def report(args: argparse.Namespace, summary: Any) -> dict[str, Any]:
    """The summary's own text on stdout unless ``--json`` (which prints the returned dict instead)."""
    if not args.json:
        print(summary.describe())
    return as_dict(summary)
