"""``molpipe monitor`` (drift of scoring runs against the model's training data) and ``molpipe quality-monitor``
(Databricks Lakehouse Monitoring on a table)."""

from __future__ import annotations

import argparse
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(
        sub,
        "monitor",
        "drift of scoring runs against the model's training data into the monitoring table, MLflow "
        "and a PNG report; flags a retrain past the [monitor] thresholds",
    )
    p.add_argument("--library", help="only this library's scoring runs")
    p.add_argument("--run", help="one scoring run id (default: every scoring run not monitored yet)")
    p.add_argument("--out", help="folder for the PNG reports (default $MOLPIPE_HOME/reports/monitor)")
    p.set_defaults(handler=_monitor)

    p = job(
        sub,
        "quality-monitor",
        "create (once) and refresh the Lakehouse Monitoring quality monitor on a table (Databricks)",
    )
    p.add_argument("--table", default="candidates", help="molpipe table to monitor (default candidates)")
    p.add_argument("--assets-dir", required=True, help="workspace folder for the monitor's dashboard")
    p.add_argument("--granularity", default="1 day", help="time window of the profile metrics (default '1 day')")
    p.add_argument("--no-refresh", dest="refresh", action="store_false", help="create the monitor only")
    p.add_argument("--profile", help="~/.databrickscfg profile (default: the SDK's own authentication)")
    p.set_defaults(handler=_quality_monitor)


def _monitor(args, settings: Settings) -> dict[str, Any]:
    from molpipe.monitor.job import monitor
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        summary = monitor(catalog, options=settings.monitor, library=args.library, run=args.run or None, out=args.out)
    return report(args, summary)


def _quality_monitor(args, settings: Settings) -> dict[str, Any]:
    from databricks.sdk import WorkspaceClient

    from molpipe.lake.tables import TABLES
    from molpipe.monitor.lakehouse import ensure_quality_monitor

    if not settings.catalog:
        raise ValueError("Lakehouse Monitoring watches Unity Catalog tables: set MOLPIPE_CATALOG (and MOLPIPE_SCHEMA)")
    if args.table not in TABLES:
        raise ValueError(f"unknown table {args.table!r}; molpipe's tables: {', '.join(TABLES)}")
    schema = f"{settings.catalog}.{settings.schema}"
    result = ensure_quality_monitor(
        WorkspaceClient(profile=args.profile),
        f"{schema}.{args.table}",
        schema,
        args.assets_dir,
        args.granularity,
        args.refresh,
    )
    if not args.json:
        print(
            f"quality monitor on {result['table']} {'created' if result['created'] else 'exists'}"
            + (f", refresh {result['refresh_id']} started" if result["refresh_id"] is not None else "")
        )
    return result
