"""``molpipe ingest``: a library file -> ``library_raw`` rows, one per record, with file, row number and load id.

The file is streamed on the driver (one record in memory at a time) into Parquet parts of ``ingest.chunk_rows``
rows under ``$MOLPIPE_HOME/staging``; Spark then appends all parts to ``library_raw`` in one Delta commit, and a
``loads`` row records the load. The load id is the file's SHA-256, so ingesting the same bytes again into the same
library is recognised and adds nothing. A crash between the two writes leaves no ``loads`` row: the next attempt
deletes the half-written rows and loads again.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from molpipe.ingest.columns import RAW_SCHEMA, ColumnRoles, raw_rows, resolve_roles
from molpipe.ingest.readers import open_reader
from molpipe.lake.tables import Catalog
from molpipe.runtime import progress, staging
from molpipe.runtime.faults import checkpoint


@dataclass
class IngestSummary:
    library: str
    load_id: str
    source_file: str
    format: str
    structure_column: str
    rows_read: int
    rows_malformed: int
    already_loaded: bool
    tables: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """What ``molpipe ingest`` prints: the load, or that the file was loaded before."""
        if self.already_loaded:
            return f"{self.source_file} is already in library '{self.library}' (load {self.load_id}): nothing added"
        return (
            f"ingested {self.rows_read:,} rows from {self.source_file} into library '{self.library}' "
            f"(load {self.load_id}, {self.format}, structure column '{self.structure_column}', "
            f"{self.rows_malformed:,} malformed rows kept for quarantine)"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest(
    catalog: Catalog,
    *,
    path: str | Path,
    library: str,
    fmt: str | None = None,
    smiles_col: str | None = None,
    id_col: str | None = None,
    label_cols: Iterable[str] = (),
) -> IngestSummary:
    """Stream a library file into ``library_raw``, one row per record with its file and row number; the same
    bytes ingested again into the same library add nothing (the load id is the file's SHA-256)."""
    from pyspark.sql import functions as F

    path = Path(path).resolve()
    _check_library_name(library)
    reader = open_reader(path, fmt)
    sample = list(itertools.islice(reader.records, 100))  # to detect the SMILES column; put back below
    roles = resolve_roles(reader, sample, smiles_col, id_col, list(label_cols))
    sha = file_sha256(path)
    load_id = sha[:16]
    tables = catalog.locations(["library_raw", "loads"])

    previous = catalog.read("loads").where((F.col("library") == library) & (F.col("load_id") == load_id)).collect()
    if previous:
        row = previous[0]
        return IngestSummary(
            library,
            load_id,
            str(path),
            row["format"],
            row["structure_column"],
            row["rows_read"],
            row["rows_malformed"],
            already_loaded=True,
            tables=tables,
        )

    with staging.folder(catalog.settings, f"ingest-{load_id}") as folder:
        rows_read, rows_malformed = _stage(
            itertools.chain(sample, reader.records), roles, folder, catalog.settings.ingest.chunk_rows, path.name
        )
        checkpoint("ingest.staged")
        raw = (
            catalog.spark.read.schema(_spark_schema())
            .parquet(str(folder))
            .select(
                F.lit(library).alias("library"),
                F.lit(load_id).alias("load_id"),
                F.lit(str(path)).alias("source_file"),
                "*",
                F.current_timestamp().alias("loaded_at"),
            )
        )
        catalog.delete("library_raw", where=f"library = '{library}' AND load_id = '{load_id}'")
        catalog.append("library_raw", raw)
    checkpoint("ingest.raw_written")

    load = catalog.spark.createDataFrame(
        [
            (
                library,
                load_id,
                str(path),
                sha,
                path.stat().st_size,
                reader.format,
                roles.structure,
                roles.id,
                list(roles.labels),
                rows_read,
                rows_malformed,
            )
        ],
        "library STRING, load_id STRING, source_file STRING, file_sha256 STRING, file_bytes BIGINT, format STRING, "
        "structure_column STRING, id_column STRING, label_columns ARRAY<STRING>, rows_read BIGINT, rows_malformed BIGINT",
    ).select("*", F.current_timestamp().alias("ingested_at"), F.lit(None).cast("timestamp").alias("featurized_at"))
    catalog.append("loads", load)
    return IngestSummary(
        library,
        load_id,
        str(path),
        reader.format,
        roles.structure,
        rows_read,
        rows_malformed,
        already_loaded=False,
        tables=tables,
    )


def _stage(records, roles: ColumnRoles, folder: Path, chunk_rows: int, name: str) -> tuple[int, int]:
    """Write records as Parquet parts; returns (rows, malformed rows)."""
    rows_read = malformed = 0
    with progress.track(f"ingest {name}", unit="rows"):
        rows = raw_rows(records, roles)
        for part in itertools.count():
            chunk = list(itertools.islice(rows, chunk_rows))
            if not chunk and part > 0:
                break
            table = pa.Table.from_pylist(chunk, schema=RAW_SCHEMA)
            pq.write_table(table, folder / f"part-{part:05d}.parquet")
            rows_read += len(chunk)
            malformed += sum(1 for row in chunk if row["read_error"])
            progress.advance(len(chunk))
            if len(chunk) < chunk_rows:
                break
    return rows_read, malformed


def _spark_schema() -> str:
    return (
        "source_row BIGINT, record_id STRING, structure STRING, structure_format STRING, "
        "labels MAP<STRING, DOUBLE>, properties MAP<STRING, STRING>, read_error STRING, read_error_detail STRING"
    )


def _check_library_name(library: str) -> None:
    if not library or not all(ch.isalnum() or ch in "_-" for ch in library):
        raise ValueError(f"library name {library!r}: use letters, digits, '_' and '-' only")
