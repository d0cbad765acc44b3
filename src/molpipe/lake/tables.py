"""Logical table names -> Delta tables.

Locally a table lives at ``$MOLPIPE_HOME/warehouse/<name>`` and molpipe names it by its path
(``delta.`/…/warehouse/molecules` ``), never by a name in the engine's catalog: an Apache Spark server keeps one
catalog for all its sessions, so two homes on one server (two users, or tests) would otherwise resolve ``molecules``
to whichever registered it first. ``molpipe sql`` adds session views with the bare names, so
``SELECT * FROM molecules`` works there. On Databricks a table is the Unity Catalog table
``<catalog>.<schema>.<name>``. Either way :meth:`Catalog.ref` gives the SQL name to use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

from molpipe.config import Settings
from molpipe.lake.conflicts import retrying


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: str  # Spark SQL DDL
    partition_by: tuple[str, ...] = ("library",)
    description: str = ""

    @cached_property
    def column_items(self) -> list[str]:
        """The DDL's top-level items (``name TYPE``; types nest commas in <>), parsed once per spec."""
        items, depth, item = [], 0, ""
        for char in self.columns + ",":
            depth += {"<": 1, ">": -1}.get(char, 0)
            if char == "," and depth == 0:
                items.append(" ".join(item.split()))
                item = ""
            else:
                item += char
        return items

    @cached_property
    def column_names(self) -> list[str]:
        """The columns in the order of :attr:`columns`; every read selects them."""
        return [item.split()[0].strip("`") for item in self.column_items]


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "loads",
            """library STRING, load_id STRING, source_file STRING, file_sha256 STRING, file_bytes BIGINT,
            format STRING, structure_column STRING, id_column STRING, label_columns ARRAY<STRING>,
            rows_read BIGINT, rows_malformed BIGINT, ingested_at TIMESTAMP, featurized_at TIMESTAMP""",
            description="one row per ingested file",
        ),
        TableSpec(
            "library_raw",
            """library STRING, load_id STRING, source_file STRING, source_row BIGINT, record_id STRING,
            structure STRING, structure_format STRING, labels MAP<STRING, DOUBLE>, properties MAP<STRING, STRING>,
            read_error STRING, read_error_detail STRING, loaded_at TIMESTAMP""",
            description="every input row as read, with its file and row number",
        ),
        TableSpec(
            "molecules",
            """library STRING, inchikey STRING, smiles STRING, scaffold STRING, heavy_atoms INT,
            labels MAP<STRING, DOUBLE>, n_sources BIGINT, first_load_id STRING, first_source_row BIGINT,
            created_at TIMESTAMP, updated_at TIMESTAMP""",
            description="one row per distinct standardized molecule (InChIKey); labels averaged over its sources",
        ),
        TableSpec(
            "molecule_sources",
            """library STRING, inchikey STRING, load_id STRING, source_file STRING, source_row BIGINT,
            record_id STRING, labels MAP<STRING, DOUBLE>, is_first BOOLEAN, processed_at TIMESTAMP""",
            description="every accepted input row and the molecule it became (first sighting or duplicate)",
        ),
        TableSpec(
            "quarantine",
            """library STRING, load_id STRING, source_file STRING, source_row BIGINT, record_id STRING,
            structure STRING, structure_format STRING, reason STRING, detail STRING, quarantined_at TIMESTAMP""",
            description="every rejected input row, as read, with the reason",
        ),
        TableSpec(
            "features",
            """library STRING, inchikey STRING, featurizer STRING, spec STRING, `values` ARRAY<FLOAT>,
            edge_index ARRAY<INT>, edge_attr ARRAY<FLOAT>, computed_at TIMESTAMP""",
            partition_by=("library", "featurizer"),
            description="features per molecule and featurizer; graphs: values = node features, plus edges",
        ),
        TableSpec(
            "featurizer_specs",
            """featurizer STRING, spec STRING, version INT, kind STRING, dim INT, params STRING,
            feature_names ARRAY<STRING>, registered_at TIMESTAMP""",
            partition_by=(),
            description="what each featurizer spec computes (names of the vector's entries)",
        ),
        TableSpec(
            "splits",
            """library STRING, split_id STRING, inchikey STRING, split STRING, pool_reason STRING, scaffold STRING,
            method STRING, seed INT, created_at TIMESTAMP""",
            description="train/valid/test/pool assignment per molecule, per split run",
        ),
        TableSpec(
            "candidates",
            """scoring_run_id STRING, library STRING, inchikey STRING, smiles STRING, scaffold STRING,
            prediction DOUBLE, uncertainty DOUBLE, ad_similarity DOUBLE, acquisition STRING, acquisition_score DOUBLE,
            rank BIGINT, label STRING, model_name STRING, model_version STRING, model_alias STRING,
            training_split_id STRING, scored_at TIMESTAMP, alerts ARRAY<STRING>, mol_weight DOUBLE, clogp DOUBLE,
            tpsa DOUBLE, hbd INT, hba INT, rotatable_bonds INT, formal_charge INT, heavy_atoms INT, qed DOUBLE,
            sa_score DOUBLE, ro5_violations INT, filter_profile STRING, passes_filters BOOLEAN,
            filter_reasons ARRAY<STRING>, prediction_lower DOUBLE, prediction_upper DOUBLE""",
            description="the scored pool, one row per molecule and scoring run, ranked by acquisition score, with its "
            "structural alerts, properties, the verdict of the run's filter profile, and the conformal prediction interval",
        ),
        TableSpec(
            "selections",
            """batch_id STRING, scoring_run_id STRING, library STRING, inchikey STRING, smiles STRING, position INT,
            strategy STRING, diversity STRING, prediction DOUBLE, uncertainty DOUBLE, acquisition_score DOUBLE,
            selected_at TIMESTAMP, filters STRING""",
            description="the molecules sent to the lab, per batch",
        ),
        TableSpec(
            "lab_results",
            """library STRING, load_id STRING, source_file STRING, source_row BIGINT, inchikey STRING, label STRING,
            value DOUBLE, batch_id STRING, ingested_at TIMESTAMP""",
            description="every measurement that came back from the lab (history; labels are updated in molecules)",
        ),
        TableSpec(
            "monitoring",
            """library STRING, scoring_run_id STRING, model_name STRING, model_version STRING, label STRING,
            training_split_id STRING, metric STRING, feature STRING, value DOUBLE, threshold DOUBLE, drifted BOOLEAN,
            n_reference BIGINT, n_current BIGINT, monitored_at TIMESTAMP""",
            description="drift of each scoring run against its model's training data, one row per measure",
        ),
    ]
}


# SQL views over the tables ({name} is a table's SQL name): temporary views in a local session, Unity Catalog
# views on Databricks. Registered with the tables they read (``molpipe sql`` can query them by name).
VIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "latest_candidates": (
        ("candidates",),
        """
        SELECT c.* FROM {candidates} c
        JOIN (SELECT library, max_by(scoring_run_id, scored_at) AS run FROM {candidates} GROUP BY library) l
          ON c.library = l.library AND c.scoring_run_id = l.run""",
    ),
    "top_candidates": (("candidates",), "SELECT * FROM {candidates} WHERE rank <= 100"),
    "lab_ready_candidates": (
        ("candidates",),
        """
        SELECT *, row_number() OVER (PARTITION BY scoring_run_id ORDER BY rank) AS lab_rank
        FROM {candidates} WHERE passes_filters""",
    ),
    "best_per_scaffold": (
        ("candidates",),
        """
        SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY scoring_run_id, scaffold ORDER BY rank) AS
          scaffold_rank FROM {candidates}) WHERE scaffold_rank = 1""",
    ),
    "candidate_novelty": (
        ("candidates", "splits"),
        """
        SELECT c.*, 1 - c.ad_similarity AS novelty, t.scaffold IS NULL AS novel_scaffold
        FROM {candidates} c
        LEFT JOIN (SELECT DISTINCT split_id, scaffold FROM {splits} WHERE split = 'train') t
          ON t.split_id = c.training_split_id AND t.scaffold = c.scaffold""",
    ),
}


class Catalog:
    """Creates, registers and names molpipe's tables for one Spark session."""

    def __init__(self, spark: Any, settings: Settings, databricks: bool = False, udf_partitions: int = 0):
        if databricks and not settings.catalog:
            raise ValueError(
                "on Databricks molpipe's tables live in Unity Catalog: set MOLPIPE_CATALOG (and MOLPIPE_SCHEMA)"
            )
        self.spark = spark
        self.settings = settings
        self.databricks = databricks
        self.udf_partitions = udf_partitions or settings.udf_partitions
        self._ready: set[str] = set()

    def spread(self, df):
        """``df`` over :attr:`udf_partitions` partitions ahead of a CPU-bound UDF (when > 0), so that every task
        slot of a Spark engine gets a share: Spark coalesces a small shuffle's output (a few MB of SMILES) into one
        partition, which is one Python worker. Sail fans a UDF out over its own worker pool instead (0)."""
        return df.repartition(self.udf_partitions) if self.udf_partitions > 0 else df

    @property
    def warehouse(self) -> Path:
        return self.settings.home_path / "warehouse"

    def path(self, name: str) -> Path:
        return self.warehouse / _spec(name).name

    def ref(self, name: str) -> str:
        """The SQL identifier of a logical table (registering it on first use)."""
        self.ensure(name)
        return self._identifier(name)

    def _identifier(self, name: str) -> str:
        if self.databricks:
            return f"`{self.settings.catalog}`.`{self.settings.schema}`.`{name}`"
        return f"delta.`{self.path(name)}`"

    def ensure(self, name: str) -> None:
        """Create the table if it does not exist."""
        if name in self._ready:
            return
        spec = _spec(name)
        if self.databricks:
            partition = f" PARTITIONED BY ({', '.join(spec.partition_by)})" if spec.partition_by else ""
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{self.settings.catalog}`.`{self.settings.schema}`")
            self.spark.sql(
                f"CREATE TABLE IF NOT EXISTS {self._identifier(name)} ({spec.columns}) USING delta{partition}"
            )
            missing = _missing(self.spark.table(self._identifier(name)).columns, spec)
            if missing:  # a table an earlier molpipe created
                self.spark.sql(f"ALTER TABLE {self._identifier(name)} ADD COLUMNS ({', '.join(missing)})")
        elif not self.exists(name):
            # an empty write, not CREATE TABLE: Sail has no DDL on a path identifier; mode "ignore" leaves a table
            # that another job created meanwhile as it is
            self.warehouse.mkdir(parents=True, exist_ok=True)
            empty = self.spark.createDataFrame([], spec.columns).write.format("delta").mode("ignore")
            self.commit(f"creating {name}", lambda: empty.partitionBy(*spec.partition_by).save(str(self.path(name))))
        else:
            _add_missing_local_columns(self.path(name), spec)
        self._ready.add(name)

    def exists(self, name: str) -> bool:
        """Whether the table exists (asking does not create it, unlike :meth:`ref`). Locally: its log holds a commit;
        a job killed while writing a table's first commit leaves ``_delta_log`` without one, which is no table."""
        if self.databricks:
            return self.spark.catalog.tableExists(self._identifier(name))
        log = self.path(name) / "_delta_log"
        return (log / "_last_checkpoint").exists() or any(log.glob("*.json"))

    def register_existing(self) -> list[str]:
        """Name every table that exists and the views over them in this session (for ``molpipe sql``): locally a
        session view per table under its bare name. Returns the tables' names."""
        present = [name for name in TABLES if self.databricks or self.exists(name)]
        for name in present:
            self.ensure(name)
            if not self.databricks:
                self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{name}` AS SELECT * FROM {self.ref(name)}")
        for view, (tables, sql) in VIEWS.items():
            if set(tables) <= set(present):
                self.create_view(view)
        return present

    def create_view(self, name: str) -> str:
        """Create (or replace) one of :data:`VIEWS`; returns its SQL name."""
        tables, sql = VIEWS[name]
        body = sql.format(**{table: self.ref(table) for table in tables})
        if self.databricks:
            identifier = self._identifier(name)
            self.spark.sql(f"CREATE OR REPLACE VIEW {identifier} AS {body}")
            return identifier
        self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{name}` AS {body}")
        return f"`{name}`"

    def read(self, name: str):
        """The table, its columns in the order of its spec: a read by path returns partition columns last on Sail."""
        return _in_spec_order(self.spark.table(self.ref(name)), name)

    def read_version(self, name: str, version: int):
        """The table as of a Delta version (time travel), for reproducible training inputs."""
        reader = self.spark.read.format("delta").option("versionAsOf", version)
        return _in_spec_order(
            reader.table(self.ref(name)) if self.databricks else reader.load(str(self.path(name))), name
        )

    def append(self, name: str, df) -> None:
        """Append a DataFrame (any column order; the table's columns are selected by name)."""
        self.ensure(name)
        writer = _in_spec_order(df, name).write.format("delta").mode("append")  # no schema round trip
        if self.databricks:
            self.commit(f"append to {name}", lambda: writer.saveAsTable(self._identifier(name)))
        else:
            self.commit(f"append to {name}", lambda: writer.save(str(self.path(name))))

    def merge(self, table: str, source, keys: Sequence[str], update: str = "") -> None:
        """``MERGE INTO`` ``table`` from ``source`` on ``keys``: insert what is new; ``update`` is a SET clause
        (``t.col = s.col, ...``) for matched rows."""
        view = f"_molpipe_{table}_{uuid.uuid4().hex[:8]}"
        self.ensure(table)
        _in_spec_order(source, table).createOrReplaceTempView(view)
        columns = _spec(table).column_names
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        matched = f" WHEN MATCHED THEN UPDATE SET {update}" if update else ""
        statement = (
            f"MERGE INTO {self.ref(table)} t USING {view} s ON {on}{matched} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(f'`{c}`' for c in columns)}) "
            f"VALUES ({', '.join(f's.`{c}`' for c in columns)})"
        )
        self.commit(f"MERGE INTO {table}", lambda: self.spark.sql(statement))
        self.spark.catalog.dropTempView(view)

    def delete(self, table: str, *, where: str) -> None:
        """``DELETE FROM`` ``table`` the rows ``where`` (a SQL condition) holds."""
        statement = f"DELETE FROM {self.ref(table)} WHERE {where}"
        self.commit(f"DELETE FROM {table}", lambda: self.spark.sql(statement))

    def update(self, table: str, *, assign: str, where: str) -> None:
        """``UPDATE`` ``table``: ``assign`` (``col = expr, ...``) in the rows ``where`` holds."""
        statement = f"UPDATE {self.ref(table)} SET {assign} WHERE {where}"
        self.commit(f"UPDATE {table}", lambda: self.spark.sql(statement))

    def commit(self, what: str, statement):
        """Run ``statement()`` (one Delta write), again after a conflict with a concurrent commit
        (:func:`molpipe.lake.conflicts.retrying`); ``what`` names it in the messages."""
        return retrying(statement, what=what, options=self.settings.concurrency)

    def version(self, name: str) -> int:
        """Current Delta version of a table."""
        if self.databricks:
            row = self.spark.sql(f"DESCRIBE HISTORY {self.ref(name)} LIMIT 1").collect()[0]
            return int(row["version"])
        from deltalake import DeltaTable

        self.ensure(name)
        return DeltaTable(str(self.path(name))).version()

    def location(self, name: str) -> str:
        return self._identifier(name) if self.databricks else str(self.path(name))

    def locations(self, names: list[str]) -> dict[str, str]:
        return {name: self.location(name) for name in names}


def stage(df, path, *more):
    """Compute ``df`` once into Parquet at ``path`` (a staging folder) and read it back: later steps that use
    it several times (counts, joins, merges) do not recompute a UDF. ``more`` frames of the same schema are
    appended after it, each by a query of its own, one after the other."""
    df.write.mode("overwrite").parquet(str(path))
    for frame in more:
        frame.write.mode("append").parquet(str(path))
    return df.sparkSession.read.schema(df.schema).parquet(str(path))


def _in_spec_order(frame, name: str):
    """``frame``'s columns of table ``name``, in its spec's order (taken from the spec: no schema round trip)."""
    return frame.select(*(f"`{c}`" for c in _spec(name).column_names))


def _missing(present: Sequence[str], spec: TableSpec) -> list[str]:
    """The spec's columns a table written by an earlier molpipe lacks, as DDL items (new columns are added at the
    end of a spec, so an evolved table keeps the spec's order)."""
    have = set(present)
    return [item for name, item in zip(spec.column_names, spec.column_items) if name not in have]


def _add_missing_local_columns(path: Path, spec: TableSpec) -> None:
    """Evolve a local table through the ``deltalake`` package: Sail has no ``ALTER TABLE``, and the new columns are
    nullable, so the rows already written read them as null."""
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    missing = _missing([field.name for field in table.schema().fields], spec)
    if missing:
        table.alter.add_columns([_delta_field(item) for item in missing])


def _delta_field(item: str):
    """A ``deltalake`` field from a DDL item such as ``alerts ARRAY<STRING>`` (primitives and arrays of them)."""
    from deltalake.schema import ArrayType, Field, PrimitiveType

    name, kind = item.split(None, 1)
    kind = kind.strip().upper()
    primitive = {"STRING": "string", "DOUBLE": "double", "FLOAT": "float", "INT": "integer", "BIGINT": "long"}
    primitive |= {"BOOLEAN": "boolean", "TIMESTAMP": "timestamp"}
    if kind.startswith("ARRAY<") and kind.endswith(">"):
        return Field(name.strip("`"), ArrayType(PrimitiveType(primitive[kind[6:-1]])), nullable=True)
    return Field(name.strip("`"), PrimitiveType(primitive[kind]), nullable=True)


def _spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; molpipe's tables: {', '.join(TABLES)}")
    return TABLES[name]
