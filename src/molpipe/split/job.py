"""``molpipe split``: labeled molecules -> train/valid/test; unlabeled and held-out molecules -> the pool.

* **pool, unlabeled**: molecules with no label at all: what the model will score;
* **pool, held_out**: a seeded fraction of the labeled molecules whose labels training never sees: the part of
  the library "fed into the model later" (and the ground truth of active-learning benchmarks);
* **train/valid/test**: the remaining labeled molecules, by balanced scaffold split (:mod:`molpipe.split.assign`)
  or at random.

Random draws hash the InChIKey with the seed, so a molecule's assignment does not depend on row order or
partitioning, and the same seed always gives the same split. A split is stored under its ``split_id``; running
the same split again replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from molpipe.featurize.read import check_featurized
from molpipe.lake.tables import Catalog
from molpipe.runtime.faults import checkpoint
from molpipe.split.assign import Fractions, balanced_scaffold_split

METHODS = ("scaffold", "random")


@dataclass
class SplitSummary:
    library: str
    split_id: str
    method: str
    seed: int
    counts: dict[str, int]
    pool_reasons: dict[str, int]
    scaffolds: dict[str, int]
    tables: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """What ``molpipe split`` prints: molecules per split, and why the pool holds what it holds."""
        counts = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        reasons = ", ".join(f"{k} {v:,}" for k, v in self.pool_reasons.items()) or "none"
        return f"split '{self.split_id}' of '{self.library}': {counts} (pool: {reasons})"


def split_id_for(method: str, seed: int, pool_fraction: float) -> str:
    return f"{method}-seed{seed}-pool{pool_fraction:g}"


def split(
    catalog: Catalog,
    *,
    library: str,
    method: str = "scaffold",
    fractions: Fractions = Fractions(),
    pool_fraction: float = 0.0,
    seed: int = 0,
) -> SplitSummary:
    """Assign the library's labeled molecules to train/valid/test and the rest to the pool, stored under a
    new ``split_id``; the same seed gives the same split whatever the row order."""
    from pyspark.sql import functions as F

    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; expected one of {', '.join(METHODS)}")
    if not 0.0 <= pool_fraction < 1.0:
        raise ValueError(f"--pool-fraction must be in [0, 1), got {pool_fraction}")
    check_featurized(catalog, library)
    molecules = catalog.read("molecules").where(F.col("library") == library).select("inchikey", "scaffold", "labels")
    pool_reason = F.when(F.size("labels") == 0, F.lit("unlabeled")).when(
        _unit_hash("inchikey", seed, "pool") < F.lit(pool_fraction), F.lit("held_out")
    )
    molecules = molecules.withColumn("pool_reason", pool_reason)
    labeled = molecules.where(F.col("pool_reason").isNull())

    if method == "scaffold":
        counts = {row["scaffold"]: row["count"] for row in labeled.groupBy("scaffold").count().collect()}
        assignment = balanced_scaffold_split(counts, fractions, seed)
        table = catalog.spark.createDataFrame(
            list(assignment.items()) or [("", "train")], "scaffold STRING, split STRING"
        )
        assigned = labeled.join(F.broadcast(table), "scaffold")
    else:
        draw = _unit_hash("inchikey", seed, "split")
        assigned = labeled.withColumn(
            "split",
            F.when(draw < fractions.train, "train")
            .when(draw < fractions.train + fractions.valid, "valid")
            .otherwise("test"),
        )
    pool = molecules.where(F.col("pool_reason").isNotNull()).withColumn("split", F.lit("pool"))
    split_id = split_id_for(method, seed, pool_fraction)
    rows = assigned.unionByName(pool).select(
        F.lit(library).alias("library"),
        F.lit(split_id).alias("split_id"),
        "inchikey",
        "split",
        "pool_reason",
        "scaffold",
        F.lit(method).alias("method"),
        F.lit(seed).cast("int").alias("seed"),
        F.current_timestamp().alias("created_at"),
    )
    catalog.delete("splits", where=f"library = '{library}' AND split_id = '{split_id}'")
    checkpoint("split.deleted")  # killed here, the split is gone until the command runs again
    catalog.append("splits", rows)

    stored = catalog.read("splits").where((F.col("library") == library) & (F.col("split_id") == split_id))
    stats = (
        stored.groupBy("split")
        .agg(F.count(F.lit(1)).alias("n"), F.countDistinct("scaffold").alias("scaffolds"))
        .collect()
    )
    reasons = stored.where(F.col("pool_reason").isNotNull()).groupBy("pool_reason").count().collect()
    order = {name: i for i, name in enumerate(("train", "valid", "test", "pool"))}
    stats = sorted(stats, key=lambda row: order[row["split"]])
    return SplitSummary(
        library=library,
        split_id=split_id,
        method=method,
        seed=seed,
        counts={row["split"]: row["n"] for row in stats},
        pool_reasons={row["pool_reason"]: row["count"] for row in reasons},
        scaffolds={row["split"]: row["scaffolds"] for row in stats},
        tables=catalog.locations(["splits"]),
    )


def _unit_hash(column: str, seed: int, salt: str):
    """A uniform draw in [0, 1) from a column's value and the seed, the same on every engine and partitioning."""
    from pyspark.sql import functions as F

    bucket = F.pmod(F.xxhash64(F.col(column), F.lit(seed), F.lit(salt)), F.lit(1_000_003))
    return bucket / F.lit(1_000_003.0)
