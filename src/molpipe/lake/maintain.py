"""Delta table maintenance for molpipe's tables (``molpipe maintain``): compaction, VACUUM, and what they changed.

Every ingest, featurize round, MERGE and scoring run adds files, most of them small (one per partition and task), and
a reader opens every file of the version it reads: a library grown in many loads reads slower than the same rows in
a few files. OPTIMIZE (Delta's bin-packing compaction) rewrites a partition's small files into few large ones: the
same rows, one new version. The files it replaced stay on disk, since older versions still read them (time travel,
the table versions a model's lineage names), until VACUUM deletes those no longer needed by any version younger than
the retention, together with files no commit ever named (what a killed job left behind).

Two ways to the same result:

* Apache Spark with Delta, a remote Spark Connect server, Databricks: Delta's SQL commands on the engine (``OPTIMIZE``,
  ``VACUUM``, ``DESCRIBE DETAIL``, ``DESCRIBE HISTORY``, ``ALTER TABLE ... SET TBLPROPERTIES``). Not
  ``delta.tables.DeltaTable``: over Spark Connect it needs Delta's connect-server plugin, not published for Spark 4.2.
* embedded Sail, which has none of these commands: the ``deltalake`` package on the table's local path.

Retention. ``maintain.retention_hours`` becomes each table's ``delta.deletedFileRetentionDuration``, and VACUUM then
uses the table's own property on either path: Delta 4.4 on Spark ignores ``VACUUM ... RETAIN <n> HOURS`` for any n
but 0 (``spark.databricks.delta.vacuum.retentionWindowIgnore.enabled``, on by default; it logs a warning and keeps
the property's 7 days), so a RETAIN clause would not do what the setting says. molpipe accepts 168 to 720 hours and
never turns Delta's retention check off: below 168 h (Delta's default and minimum) VACUUM could delete files that a
running job or a time-travel read still needs, a model's lineage versions among them; above 720 h (Delta's default
``delta.logRetentionDuration``, 30 days) Delta on Spark refuses the property. Keep the retention at least as long as
the oldest model you may still validate: its training versions of ``molecules`` and ``splits`` are read back then.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Mapping, NamedTuple

from molpipe.config import MaintainOptions
from molpipe.lake.tables import TABLES, Catalog

RETENTION_PROPERTY = "delta.deletedFileRetentionDuration"
DELTA_DEFAULT_RETENTION_HOURS = 168  # the property's default, "interval 7 days", and VACUUM's minimum
MAX_RETENTION_HOURS = 720  # Delta's default delta.logRetentionDuration (30 days), which the property may not exceed
OWN_COMMITS = 4  # at most, per table: the retention property, OPTIMIZE, VACUUM START and VACUUM END
SQL_ENGINES = frozenset({"spark", "remote", "databricks"})  # Engine.kind values with Delta's SQL commands


@dataclass
class TableMaintenance:
    table: str
    files_before: int  # data files of the current version (what a full read opens)
    files_after: int
    bytes_before: int
    bytes_after: int
    removed_by_vacuum: int  # files VACUUM deleted from storage (its VACUUM END commit says how many)
    version_before: int
    version_after: int
    history_before: list[dict[str, Any]]  # the table's latest commits before maintenance, newest first
    operations: list[dict[str, Any]]  # the commits since maintenance began (its own: property, OPTIMIZE, VACUUM)
    seconds: float


@dataclass
class MaintainSummary:
    library: str | None  # compaction limited to this library's partitions (VACUUM is table-wide)
    retention_hours: int
    method: str  # "sql": Delta's commands on the engine; "deltalake": the deltalake package (embedded Sail)
    tables: list[TableMaintenance] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # molpipe's tables that do not exist (yet): nothing to maintain
    seconds: float = 0.0

    def describe(self) -> str:
        """What ``molpipe maintain`` prints: per table its files, bytes and versions before and after."""
        scope = f"library '{self.library}' of " if self.library else ""
        lines = [
            f"maintained {scope}{len(self.tables)} table(s) in {self.seconds:.1f} s ({self.method}; "
            f"VACUUM retention {self.retention_hours} h)"
            + (f"; not there yet: {', '.join(self.absent)}" if self.absent else "")
        ]
        for t in self.tables:
            added = ", ".join(op["operation"] for op in t.operations) or "nothing to do"
            lines.append(
                f"  {t.table:<17} files {t.files_before:,} -> {t.files_after:,}, {_size(t.bytes_before)} -> "
                f"{_size(t.bytes_after)}; vacuum removed {t.removed_by_vacuum:,}; v{t.version_before} -> "
                f"v{t.version_after} ({added}); {t.seconds:.1f} s"
            )
            lines.append(
                f"  {'':<17} before: " + ", ".join(f"v{c['version']} {c['operation']}" for c in t.history_before)
            )
        return "\n".join(lines)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def maintain(
    catalog: Catalog,
    *,
    engine_kind: Literal["embedded", "spark", "remote", "databricks"],
    options: MaintainOptions,
    library: str | None = None,
) -> MaintainSummary:
    """Compact and vacuum every existing table of molpipe, reporting files, bytes and commits before and after.

    Args:
        catalog: molpipe's tables on the engine.
        engine_kind: :attr:`molpipe.runtime.engine.Engine.kind`; it picks Delta's SQL commands or the ``deltalake`` package.
        options: the retention and how much history to report (``[maintain]``).
        library: compact only this library's partitions, and skip the tables that have none (``featurizer_specs``);
            VACUUM is table-wide either way.
    """
    check_options(options)
    started = time.monotonic()
    if library is not None:
        _check_library(catalog, library)
    delta = _DeltaSql(catalog) if engine_kind in SQL_ENGINES else _DeltaRs(catalog)
    summary = MaintainSummary(library, options.retention_hours, delta.method)
    present = []
    for name, spec in TABLES.items():
        if library is None or "library" in spec.partition_by:
            (present if catalog.exists(name) else summary.absent).append(name)
    # different tables at once (each in its own commits, so they cannot conflict): on Spark a small table's
    # commands are mostly planning and commit latency, and 8 tables one after the other took 35 s on 2 cores
    with ThreadPoolExecutor(max_workers=max(1, min(options.tables_at_once, len(present)))) as pool:
        summary.tables = list(pool.map(lambda name: _maintain_table(delta, name, options, library), present))
    summary.seconds = round(time.monotonic() - started, 2)
    return summary


def check_options(options: MaintainOptions) -> None:
    """Refuse a retention Delta would not keep safely (see the module's docstring), or a history too short to hold
    maintenance's own commits: a ValueError naming the setting."""
    if options.history_entries < OWN_COMMITS:
        raise ValueError(
            f"config: maintain.history_entries={options.history_entries} is below {OWN_COMMITS}: the "
            "commits maintenance makes on a table are read back from its history"
        )
    if options.tables_at_once < 1:
        raise ValueError(f"config: maintain.tables_at_once={options.tables_at_once} must be at least 1")
    hours = options.retention_hours
    if not DELTA_DEFAULT_RETENTION_HOURS <= hours <= MAX_RETENTION_HOURS:
        raise ValueError(
            f"config: maintain.retention_hours={hours} is outside {DELTA_DEFAULT_RETENTION_HOURS}-{MAX_RETENTION_HOURS}: "
            "a shorter retention lets VACUUM delete files that running jobs and time travel (a model's lineage) still "
            "read, and Delta refuses one longer than its 30-day log retention"
        )


def retention_change(current: str | None, hours: int) -> str | None:
    """The value to give a table's retention property for ``hours``, or None where it already holds."""
    wanted = f"interval {hours} hours"
    if current == wanted or (current is None and hours == DELTA_DEFAULT_RETENTION_HOURS):
        return None
    return wanted


def history_entry(
    version: int, timestamp: datetime, operation: str, metrics: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One history entry, the same from either path (Spark's metrics are strings, deltalake's numbers)."""
    return {
        "version": int(version),
        "timestamp": timestamp.astimezone(timezone.utc).isoformat(),
        "operation": operation,
        "metrics": {k: _number(v) for k, v in (metrics or {}).items()},
    }


def removed_by_vacuum(operations: list[dict[str, Any]]) -> int:
    return sum(int(op["metrics"].get("numDeletedFiles", 0)) for op in operations if op["operation"] == "VACUUM END")


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _maintain_table(delta, name: str, options: MaintainOptions, library: str | None) -> TableMaintenance:
    started = time.monotonic()
    history_before = delta.history(name, options.history_entries)
    before = delta.detail(name)
    change = retention_change(before.retention, options.retention_hours)
    commit = delta.catalog.commit  # each command again after a writer's concurrent commit made it conflict
    if change is not None:
        commit(f"retention of {name}", lambda: delta.set_retention(name, change))
    if before.files > 1:  # one file (or none) has nothing to compact
        commit(f"OPTIMIZE {name}", lambda: delta.optimize(name, library))
    commit(f"VACUUM {name}", lambda: delta.vacuum(name))
    after = delta.detail(name)
    history_after = delta.history(name, options.history_entries)
    version_before = history_before[0]["version"]
    operations = [entry for entry in reversed(history_after) if entry["version"] > version_before]
    return TableMaintenance(
        name,
        before.files,
        after.files,
        before.bytes,
        after.bytes,
        removed_by_vacuum(operations),
        version_before,
        history_after[0]["version"],
        history_before,
        operations,
        round(time.monotonic() - started, 2),
    )


class _Detail(NamedTuple):
    files: int
    bytes: int
    retention: str | None  # the table's delta.deletedFileRetentionDuration, None where unset (Delta's 7 days)


class _DeltaSql:
    """Delta's SQL commands on the engine (Apache Spark with Delta, Databricks)."""

    method = "sql"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def _sql(self, text: str):
        return self.catalog.spark.sql(text).collect()

    def detail(self, name: str) -> _Detail:
        (row,) = self._sql(f"DESCRIBE DETAIL {self.catalog.ref(name)}")
        return _Detail(int(row["numFiles"]), int(row["sizeInBytes"]), (row["properties"] or {}).get(RETENTION_PROPERTY))

    def history(self, name: str, limit: int) -> list[dict[str, Any]]:
        rows = self._sql(f"DESCRIBE HISTORY {self.catalog.ref(name)} LIMIT {int(limit)}")
        return [history_entry(r["version"], r["timestamp"], r["operation"], r["operationMetrics"]) for r in rows]

    def set_retention(self, name: str, value: str) -> None:
        self._sql(f"ALTER TABLE {self.catalog.ref(name)} SET TBLPROPERTIES ('{RETENTION_PROPERTY}' = '{value}')")

    def optimize(self, name: str, library: str | None) -> None:
        where = f" WHERE library = '{library}'" if library is not None else ""  # a name ingest checked
        self._sql(f"OPTIMIZE {self.catalog.ref(name)}{where}")

    def vacuum(self, name: str) -> None:
        self._sql(f"VACUUM {self.catalog.ref(name)}")  # the table's retention property (see the module's docstring)


class _DeltaRs:
    """The ``deltalake`` package on a table's local path (embedded Sail has no OPTIMIZE, VACUUM or history)."""

    method = "deltalake"

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def _table(self, name: str):
        from deltalake import DeltaTable

        return DeltaTable(str(self.catalog.path(name)))

    def detail(self, name: str) -> _Detail:
        import pyarrow as pa

        table = self._table(name)
        sizes = pa.table(table.get_add_actions(flatten=True))["size_bytes"].to_pylist()
        return _Detail(len(sizes), sum(sizes), table.metadata().configuration.get(RETENTION_PROPERTY))

    def history(self, name: str, limit: int) -> list[dict[str, Any]]:
        return [
            history_entry(
                entry["version"],
                datetime.fromtimestamp(entry["timestamp"] / 1000, timezone.utc),
                entry["operation"],
                entry.get("operationMetrics"),
            )
            for entry in self._table(name).history(limit)
        ]

    def set_retention(self, name: str, value: str) -> None:
        self._table(name).alter.set_table_properties({RETENTION_PROPERTY: value})

    def optimize(self, name: str, library: str | None) -> None:
        filters = [("library", "=", library)] if library is not None else None
        self._table(name).optimize.compact(partition_filters=filters)

    def vacuum(self, name: str) -> None:
        # retention from the table's property, checked against it; full: like Delta on Spark, also the files no
        # commit names (a killed job's leftovers), not only those a commit removed
        self._table(name).vacuum(dry_run=False, full=True)


def _check_library(catalog: Catalog, library: str) -> None:
    """A library molpipe ingested (which also makes its name safe to put in SQL: ingest checks names)."""
    from pyspark.sql import functions as F

    if not catalog.exists("loads") or not catalog.read("loads").where(F.col("library") == library).limit(1).count():
        raise ValueError(f"library {library!r} has no loads: nothing of it to maintain")
