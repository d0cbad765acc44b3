"""``molpipe validate``, ``molpipe promote`` and ``molpipe rollback``: the registry's champion and challenger."""

from __future__ import annotations

import argparse
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings
from molpipe.runtime import locks


def add_commands(sub: argparse._SubParsersAction) -> None:
    for name, help, handler in [
        ("validate", "score challenger and champion on the test split; pass or fail by config", _validate),
        ("promote", "move the champion alias to the validated challenger", _promote),
        ("rollback", "restore the previous champion", _rollback),
    ]:
        p = job(sub, name, help)
        p.add_argument("--model", required=True, help="registered model name")
        if name != "rollback":
            p.add_argument("--version", help="the challenger version expected (a job's train task hands it on)")
        if name == "promote":
            p.add_argument("--force", action="store_true", help="promote without a passed validation")
        p.set_defaults(handler=handler)


def _validate(args, settings: Settings) -> dict[str, Any]:
    from molpipe.registry import lifecycle, tracking
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        tracking.configure(settings, catalog.databricks)
        name = tracking.registered_name(settings, args.model, catalog.databricks)
        result = lifecycle.validate(catalog, name=name, options=settings.validation, version=args.version)
    return report(args, result)


def _promote(args, settings: Settings) -> dict[str, Any]:
    from molpipe.registry import lifecycle

    name = _registered_name(args, settings)
    with locks.exclusive(settings, f"model-{name}", job="promote"):  # reads the aliases, then moves them
        return report(args, lifecycle.promote(name, force=args.force, version=args.version))


def _rollback(args, settings: Settings) -> dict[str, Any]:
    from molpipe.registry import lifecycle

    name = _registered_name(args, settings)
    with locks.exclusive(settings, f"model-{name}", job="rollback"):
        return report(args, lifecycle.rollback(name))


def _registered_name(args, settings: Settings) -> str:
    """``--model``'s registered name, with tracking configured: promote and rollback start no engine."""
    from molpipe.registry import tracking
    from molpipe.runtime.engine import is_databricks

    databricks = is_databricks()
    tracking.configure(settings, databricks)
    return tracking.registered_name(settings, args.model, databricks)
