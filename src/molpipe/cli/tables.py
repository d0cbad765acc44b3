"""``molpipe sql``, ``molpipe tables`` and ``molpipe maintain``: molpipe's Delta tables by name."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "sql", "run SQL over molpipe's tables by name")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    p.set_defaults(handler=_sql)

    p = job(sub, "tables", "list molpipe's tables with their location, Delta version and row count")
    p.set_defaults(handler=_tables)

    p = job(
        sub,
        "maintain",
        "compact molpipe's Delta tables (OPTIMIZE) and delete the files no version within the "
        "retention needs (VACUUM, after maintain.retention_hours); report files and commits",
    )
    p.add_argument("--library", help="compact only this library's partitions (VACUUM is table-wide)")
    p.set_defaults(handler=_maintain)


def _sql(args, settings: Settings) -> dict[str, Any]:
    from pyspark import errors
    from pyspark.logger import PySparkLogger

    from molpipe.runtime.engine import session

    # Apache Spark's errors carry their query's context, which pyspark logs with the JVM's stack (one long JSON line
    # on stderr) as it raises them: the error line the user gets is ours
    PySparkLogger.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    # what is wrong with the user's query: a typo (Spark: ParseException, an AnalysisException; Sail:
    # IllegalArgumentException), an unknown table or column (AnalysisException), or a value it cannot compute
    query_errors = (
        errors.AnalysisException,
        errors.IllegalArgumentException,
        errors.ArithmeticException,
        errors.DateTimeException,
    )
    if args.limit < 0:
        raise ValueError(f"--limit must be 0 or more, got {args.limit}")
    with session(settings) as (_, catalog):
        catalog.register_existing()
        try:
            frame = catalog.spark.sql(args.query).limit(args.limit).toPandas()
        except query_errors as exc:  # the engine's first line names the problem; the rest is its stack
            raise ValueError(str(exc).strip().splitlines()[0]) from None
    if not args.json:
        print(frame.to_string(index=False, max_colwidth=60) if len(frame) else "(no rows)")
    return {"columns": list(frame.columns), "rows": json.loads(frame.to_json(orient="records")), "limit": args.limit}


def _tables(args, settings: Settings) -> dict[str, Any]:
    from molpipe.lake.tables import TABLES
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        rows = [
            {
                "table": name,
                "location": catalog.location(name),
                "version": catalog.version(name),
                "rows": catalog.read(name).count(),
                "description": TABLES[name].description,
            }
            for name in catalog.register_existing()
        ]
    if not args.json:
        for row in rows:
            print(
                f"{row['table']:<18} v{row['version']:<4} {row['rows']:>12,} rows  {row['location']}\n"
                f"{'':<24}{row['description']}"
            )
    return {"tables": rows}


def _maintain(args, settings: Settings) -> dict[str, Any]:
    from molpipe.lake.maintain import check_options, maintain
    from molpipe.runtime.engine import session

    check_options(settings.maintain)  # before an engine starts for nothing
    with session(settings) as (engine, catalog):
        summary = maintain(catalog, engine_kind=engine.kind, options=settings.maintain, library=args.library)
    return report(args, summary)
