"""Reading the ``splits`` table back: which split ids a library has, and the names of the labeled splits."""

from __future__ import annotations

from molpipe.lake.tables import Catalog

SPLITS = ("train", "valid", "test")  # the labeled splits; the rest of a split is ``pool``


def latest_split_id(catalog: Catalog, library: str) -> str:
    from pyspark.sql import functions as F

    row = (
        catalog.read("splits")
        .where(F.col("library") == library)
        .groupBy("split_id")
        .agg(F.max("created_at").alias("at"))
        .orderBy(F.desc("at"))
        .first()
    )
    if row is None:
        raise ValueError(f"library {library!r} has no split: run `molpipe split --library {library}` first")
    return row["split_id"]
