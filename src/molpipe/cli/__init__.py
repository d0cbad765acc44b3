"""The ``molpipe`` command. Every job command accepts ``--json`` and then ends stdout with one JSON object.

Each module here adds one group of subcommands and sets each one's handler, ``handler(args, settings) -> summary``;
this one assembles them and runs the one asked for."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from typing import Any, NoReturn, Sequence

from molpipe.cli import (
    databricks,
    demo,
    featurize,
    ingest,
    lab,
    monitor,
    registry,
    score,
    serve,
    split,
    tables,
    train,
)
from molpipe.config import load_settings
from molpipe.ingest.landing import HANDLED_ERRORS, engine_os_error, user_os_error
from molpipe.lake.conflicts import Busy

GROUPS = (ingest, featurize, split, tables, train, registry, score, lab, monitor, databricks, demo, serve)  # help order


class _Parser(argparse.ArgumentParser):
    """argparse, except that a wrong command line is one line too (argparse prints its usage first), naming the
    command's ``--help``; subcommands' parsers are of this class as well."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="molpipe", description="HTS library in, ranked candidate molecules out.")
    parser.add_argument("--home", help="where local tables live (default $MOLPIPE_HOME or ./.molpipe)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return execute(argv)[0]


def entry() -> NoReturn:
    """The ``molpipe`` command (console script, ``python -m molpipe``)."""
    _exit(main())


def _exit(code: int) -> NoReturn:
    """End the process with ``code``, after freezing the heap out of the interpreter's last garbage collection,
    which walks every object MLflow, pandas and Spark Connect created only for the OS to reclaim them anyway (seconds
    at the end of a job)."""
    gc.freeze()
    sys.exit(code)


def execute(argv: Sequence[str] | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run one command: its exit status and its summary (None when it failed). A user's error (a bad input or
    setting, a missing file, a full disk) is one line and status 2; anything else is a bug and propagates: a
    traceback and status 1."""
    args = build_parser().parse_args(argv)
    home = args.home
    try:
        settings = load_settings()
        if home:
            settings = settings.replace(home=home)
        home = settings.home_path
        summary = args.handler(args, settings)
    except (*HANDLED_ERRORS, Busy) as exc:
        return _failed(args, str(exc))
    except OSError as exc:
        message = user_os_error(exc, home=home)
        if message is None:
            raise
        return _failed(args, message)
    except Exception as exc:  # the engine's query refused by the machine (a full disk): the user's; else a bug
        message = engine_os_error(exc, home=home)
        if message is None:
            raise
        return _failed(args, message)
    if getattr(args, "json", False):
        print(json.dumps(_with_engine(summary), default=str))
    return 0, summary


def _failed(args: argparse.Namespace, message: str) -> tuple[int, None]:
    """The one line on stderr (and with ``--json`` the error object as the last stdout line), status 2."""
    print(f"molpipe {args.command}: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "command": args.command}))
    return 2, None


def _with_engine(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with the engine its command started (the last, where a command started several)."""
    from molpipe.runtime.engine import started_engines

    started = started_engines()
    return {**summary, "engine": started[-1]} if started else summary


def run_job(command_name: str) -> None:
    """Entry point of a job task (``jobs/<command>.py``): the command's own arguments, its exit status; on
    Databricks the summary's scalars become task values for the tasks after it (:mod:`molpipe.databricks.task_values`)."""
    from molpipe.databricks import task_values

    code, summary = execute([command_name, *sys.argv[1:]])
    if summary is not None:
        task_values.publish(summary)
    _exit(code)


if __name__ == "__main__":
    entry()
