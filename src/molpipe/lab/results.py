"""``molpipe ingest-results``: the lab's measurements back into the library, for the next training.

A results file is a library file like any other (SMILES + measured label columns), so it goes through the same
ingest and featurize: rows that fail are quarantined with their reason, duplicates of known molecules merge into
them (``molecules.labels`` becomes the mean of every measurement, by ``MERGE INTO``), molecules the library did
not have are added and featurized. On top of that:

* every measurement is appended to ``lab_results`` (history: file, row, value, time; merged on file and row, so
  a file ingested twice adds nothing);
* in the library's split (its latest, or ``--split-id``), measured molecules that were in the ``pool`` move to
  ``train`` and molecules new to the split join ``train``: the next ``molpipe train`` learns from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from molpipe.featurize.job import featurize
from molpipe.featurize.read import check_featurized
from molpipe.featurize.registry import Featurizer
from molpipe.ingest.job import ingest
from molpipe.lake.tables import Catalog
from molpipe.runtime.faults import checkpoint
from molpipe.split.read import latest_split_id, split_id_of


@dataclass
class ResultsSummary:
    library: str
    load_id: str
    source_file: str
    rows_read: int
    measurements: int
    molecules_measured: int
    new_molecules: int
    quarantined: int
    split_id: str | None
    moved_to_train: int
    added_to_train: int
    already_loaded: bool
    tables: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """What ``molpipe ingest-results`` prints: the measurements merged, and what moved into training."""
        return (
            f"{self.source_file}: {self.rows_read} rows, {self.measurements} measurements of "
            f"{self.molecules_measured} molecules ({self.new_molecules} new, {self.quarantined} quarantined); "
            f"split {self.split_id}: {self.moved_to_train} moved from pool to train, "
            f"{self.added_to_train} added to train"
        )


def ingest_results(
    catalog: Catalog,
    *,
    path: str | Path,
    library: str,
    featurizers: Sequence[Featurizer],
    workers: int = 1,
    smiles_col: str | None = None,
    id_col: str | None = None,
    label_cols: Sequence[str] = (),
    split_id: str | None = None,
    batch_id: str | None = None,
) -> ResultsSummary:
    """Merge a file of the lab's measurements into the library (through ingest and featurize, so every row is
    accounted for) and move the measured molecules into the training part of its split."""
    from pyspark.sql import functions as F

    if not label_cols:
        raise ValueError("ingest-results needs the measured columns: --label-cols NAME[,NAME...]")
    _check_targets(catalog, library, split_id, batch_id)
    loaded = ingest(catalog, path=path, library=library, smiles_col=smiles_col, id_col=id_col, label_cols=label_cols)
    featurized = featurize(catalog, library=library, featurizers=featurizers, workers=workers)
    sources = catalog.read("molecule_sources").where(
        (F.col("library") == library) & (F.col("load_id") == loaded.load_id)
    )
    measurements = sources.select(
        "library",
        "load_id",
        "source_file",
        "source_row",
        "inchikey",
        F.explode("labels").alias("label", "value"),
        F.lit(batch_id).cast("string").alias("batch_id"),
        F.current_timestamp().alias("ingested_at"),
    )
    catalog.merge("lab_results", measurements, ["library", "load_id", "source_row", "label"])
    checkpoint("lab.results_merged")
    measured = sources.select("inchikey").distinct()
    moved = added = 0
    try:
        split_id = split_id or latest_split_id(catalog, library)
    except ValueError:
        split_id = None  # a library never split: the next `molpipe split` assigns the measured molecules
    if split_id is not None:
        moved, added = _into_training(catalog, library, split_id, measured)
        checkpoint("lab.split_updated")
    return ResultsSummary(
        library=library,
        load_id=loaded.load_id,
        source_file=loaded.source_file,
        rows_read=loaded.rows_read,
        measurements=catalog.read("lab_results").where(F.col("load_id") == loaded.load_id).count(),
        molecules_measured=measured.count(),
        new_molecules=featurized.molecules_new,
        quarantined=featurized.quarantined,
        split_id=split_id,
        moved_to_train=moved,
        added_to_train=added,
        already_loaded=loaded.already_loaded,
        tables=catalog.locations(["lab_results", "molecules", "splits", "quarantine"]),
    )


def _check_targets(catalog: Catalog, library: str, split_id: str | None, batch_id: str | None) -> None:
    """Results answer a library's molecules (and a lab batch picked from them): a typo in a name fails before
    anything is written, rather than starting a library or a batch of its own."""
    from pyspark.sql import functions as F

    check_featurized(catalog, library)
    if split_id is not None:
        split_id_of(catalog, library, split_id)
    if batch_id is not None and catalog.read("selections").where(F.col("batch_id") == batch_id).limit(1).count() == 0:
        raise ValueError(
            f"no lab batch {batch_id!r} in selections (--batch-id): see `molpipe sql 'SELECT DISTINCT batch_id "
            "FROM selections'`"
        )


def _into_training(catalog: Catalog, library: str, split_id: str, measured) -> tuple[int, int]:
    """Measured molecules of the split's pool -> train; measured molecules new to the split -> train."""
    from pyspark.sql import functions as F

    split = catalog.read("splits").where((F.col("library") == library) & (F.col("split_id") == split_id))
    meta = split.select("method", "seed").first()
    current = measured.join(split.select("inchikey", "split"), "inchikey", "left")
    changes = (
        current.where(F.col("split").isNull() | (F.col("split") == "pool"))
        .join(catalog.read("molecules").where(F.col("library") == library).select("inchikey", "scaffold"), "inchikey")
        .select(
            F.lit(library).alias("library"),
            F.lit(split_id).alias("split_id"),
            "inchikey",
            F.lit("train").alias("split"),
            F.lit(None).cast("string").alias("pool_reason"),
            "scaffold",
            F.lit(meta["method"]).alias("method"),
            F.lit(meta["seed"]).cast("int").alias("seed"),
            F.current_timestamp().alias("created_at"),
            F.col("split").alias("_was"),
        )
    ).toPandas()  # a lab batch: hundreds to thousands of rows
    if changes.empty:
        return 0, 0
    moved, added = int((changes["_was"] == "pool").sum()), int(changes["_was"].isna().sum())
    source = catalog.spark.createDataFrame(changes.drop(columns="_was"), catalog.read("splits").schema)
    catalog.merge(
        "splits", source, ["library", "split_id", "inchikey"], update="t.split = s.split, t.pool_reason = s.pool_reason"
    )
    return moved, added
