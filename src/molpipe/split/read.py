"""Reading the ``splits`` table back: which split ids a library has, the names of the labeled splits, and a model's
training molecules with their labels."""

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


def split_id_of(catalog: Catalog, library: str, split_id: str | None) -> str:
    """``split_id`` (a user's ``--split-id``), checked against the library's splits; None: its latest."""
    from pyspark.sql import functions as F

    if split_id is None:
        return latest_split_id(catalog, library)
    ids = [
        r["split_id"]
        for r in catalog.read("splits").where(F.col("library") == library).select("split_id").distinct().collect()
    ]
    if split_id not in ids:
        known = ", ".join(sorted(ids)) or f"none: run `molpipe split --library {library}`"
        raise ValueError(f"library {library!r} has no split {split_id!r} (--split-id); its splits: {known}")
    return split_id


def training_set(catalog: Catalog, *, library: str, split_id: str, label: str):
    """The molecules of ``split_id``'s ``train`` part, with their measured value of ``label`` (``smiles``,
    ``inchikey``, ``value``): what a model was fitted on, for its applicability domain and nearest neighbours."""
    from pyspark.sql import functions as F

    return (
        catalog.read("splits")
        .where((F.col("library") == library) & (F.col("split_id") == split_id) & (F.col("split") == "train"))
        .select("inchikey")
        .join(catalog.read("molecules").where(F.col("library") == library), "inchikey")
        .select("inchikey", "smiles", F.col("labels")[label].alias("value"))
    )
