"""``molpipe featurize``: ``library_raw`` rows of not-yet-featurized loads -> molecules, features, quarantine.

Every input row ends in exactly one place: a new molecule, a duplicate merged into one, or quarantine with its
reason. Two staged passes (standardize every row, then featurize each new molecule once) so duplicates are never
featurized and a re-run adds nothing; the row accounting is in docs/data-and-tables.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from molpipe.chem.reasons import Reason
from molpipe.config import StandardizeOptions
from molpipe.featurize.batch import featurize_batch, iter_batches, standardize_batch
from molpipe.featurize.registry import Featurizer
from molpipe.lake.tables import Catalog, stage
from molpipe.runtime import progress, staging
from molpipe.runtime.faults import checkpoint

_STANDARDIZED = (
    "library STRING, load_id STRING, source_file STRING, source_row BIGINT, record_id STRING, structure STRING, "
    "structure_format STRING, labels MAP<STRING, DOUBLE>, read_error STRING, read_error_detail STRING, "
    "loaded_at TIMESTAMP, inchikey STRING, smiles STRING, scaffold STRING, heavy_atoms INT, reason STRING, detail STRING"
)
_FEATURES = (
    "inchikey STRING, featurizer STRING, spec STRING, `values` ARRAY<FLOAT>, edge_index ARRAY<INT>, "
    "edge_attr ARRAY<FLOAT>, error STRING"
)


@dataclass
class FeaturizeSummary:
    library: str
    loads: list[str]
    rows_read: int
    molecules_new: int
    duplicates: int
    quarantined: int
    quarantine_reasons: dict[str, int]
    features_computed: dict[str, int]
    feature_errors: int
    molecules_total: int
    tables: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """What ``molpipe featurize`` prints: every row read accounted for, and the features computed."""
        lines = [
            f"library '{self.library}': {self.rows_read:,} rows read from {len(self.loads)} new load(s)",
            f"  molecules (new):     {self.molecules_new:,}",
            f"  duplicates merged:   {self.duplicates:,}",
            f"  quarantined:         {self.quarantined:,}"
            + "".join(f"\n    {reason:<24}{n:,}" for reason, n in self.quarantine_reasons.items()),
            f"  accounted for:       {self.molecules_new + self.duplicates + self.quarantined:,} of "
            f"{self.rows_read:,} rows {'(all)' if self.accounted else '(MISMATCH)'}",
            "  features computed:   " + (", ".join(f"{k} {v:,}" for k, v in self.features_computed.items()) or "none"),
            f"  molecules in library: {self.molecules_total:,}",
        ]
        return "\n".join(lines)

    @property
    def accounted(self) -> bool:
        return self.rows_read == self.molecules_new + self.duplicates + self.quarantined


@dataclass(frozen=True)
class Slice:
    """Rows ``first..last`` (inclusive) of one load."""

    load_id: str
    first: int
    last: int


def featurize(
    catalog: Catalog, *, library: str, featurizers: Sequence[Featurizer], workers: int = 1
) -> FeaturizeSummary:
    """Process every pending load of the library in slices of ``featurize.slice_rows`` rows (each a complete,
    idempotent round: standardize, featurize, merge), so memory is bounded by the slice, not the library."""
    from pyspark.sql import functions as F

    settings = catalog.settings
    known = (
        catalog.read("loads")
        .where(F.col("library") == library)
        .select("load_id", "rows_read", "featurized_at", "ingested_at")
        .orderBy("ingested_at", "load_id")
        .collect()
    )
    if not known:
        raise ValueError(
            f"library {library!r} has no ingested files: run `molpipe ingest FILE --library {library}` first"
        )
    pending = [row for row in known if row["featurized_at"] is None]
    size = settings.featurize.slice_rows
    slices = [
        Slice(r["load_id"], lo + 1, min(lo + size, r["rows_read"]))
        for r in pending
        for lo in range(0, r["rows_read"], size)
    ]
    _register_specs(catalog, featurizers)
    checkpoint("featurize.specs_registered")
    total = _Counts()
    for number, piece in enumerate(slices or [None]):  # None: no new rows, only back-filling added featurizers
        if len(slices) > 1:
            print(
                f"[molpipe] featurize slice {number + 1}/{len(slices)}: rows {piece.first:,}-{piece.last:,} "
                f"of load {piece.load_id}",
                file=sys.stderr,
                flush=True,
            )
        # the first round also back-fills specs missing for molecules already in the library; after it, every
        # molecule has every requested spec, so later rounds featurize only their own new molecules
        total += _featurize_slice(catalog, library, piece, featurizers, workers, backfill=number == 0)
    loads = [row["load_id"] for row in pending]
    if loads:
        ids = ", ".join(f"'{load}'" for load in loads)
        catalog.update(
            "loads", assign="featurized_at = current_timestamp()", where=f"library = '{library}' AND load_id IN ({ids})"
        )
        checkpoint("featurize.loads_updated")
    return FeaturizeSummary(
        library=library,
        loads=loads,
        rows_read=total.rows,
        molecules_new=total.new,
        duplicates=total.accepted - total.new,
        quarantined=sum(total.reasons.values()),
        quarantine_reasons=dict(sorted(total.reasons.items())),
        features_computed=dict(total.features),
        feature_errors=total.feature_errors,
        molecules_total=catalog.read("molecules").where(F.col("library") == library).count(),
        tables=catalog.locations(["molecules", "molecule_sources", "features", "quarantine", "featurizer_specs"]),
    )


@dataclass
class _Counts:
    rows: int = 0
    new: int = 0
    accepted: int = 0
    reasons: Counter = field(default_factory=Counter)
    features: Counter = field(default_factory=Counter)
    feature_errors: int = 0

    def __iadd__(self, other: "_Counts") -> "_Counts":
        self.rows += other.rows
        self.new += other.new
        self.accepted += other.accepted
        self.reasons.update(other.reasons)
        self.features.update(other.features)
        self.feature_errors += other.feature_errors
        return self


def _featurize_slice(
    catalog: Catalog, library: str, piece: Slice | None, featurizers, workers: int, backfill: bool
) -> _Counts:
    from pyspark.sql import functions as F

    settings = catalog.settings
    with staging.folder(settings, f"featurize-{library}") as folder:
        standardized = _standardize(catalog, library, piece, settings.standardize, workers, folder)
        ok = standardized.where(F.col("reason").isNull())
        molecules = catalog.read("molecules").where(F.col("library") == library)
        # staged: once the merges below run, "not yet in molecules" would no longer find these
        firsts = stage(_first_sightings(ok, molecules), folder / "firsts")
        candidates = firsts.select("inchikey", "smiles")
        if backfill:
            candidates = candidates.unionByName(molecules.select("inchikey", "smiles"))
        computed = _featurize_missing(catalog, library, candidates, featurizers, workers, folder)
        failed = computed.where(F.col("error").isNotNull()).groupBy("inchikey").agg(F.first("error").alias("error"))
        failed_new = failed.join(firsts.select("inchikey"), "inchikey", "left_semi")
        accepted = ok.join(failed_new, "inchikey", "left_anti")
        firsts = firsts.join(failed_new, "inchikey", "left_anti")

        quarantined = standardized.where(F.col("reason").isNotNull()).unionByName(
            ok.join(failed_new, "inchikey")
            .withColumn("reason", F.lit(Reason.FEATURIZER_ERROR.value))
            .withColumn("detail", F.col("error"))
            .drop("error")
        )
        # every figure from the staged rows before any write, so a write with nothing to write is skipped (on
        # Apache Spark an empty MERGE still plans, scans and commits: about a second each)
        good = computed.where(F.col("error").isNull())
        counts = _slice_counts(standardized, ok.join(failed_new, "inchikey", "left_semi"), firsts, computed)
        checkpoint("featurize.staged")
        # each write is keyed on what it writes (rows by load and row, features by the molecule and spec they lack,
        # molecules by InChIKey), so a round killed between two of them is simply done again
        if counts.reasons:
            _merge_quarantine(catalog, quarantined)
        checkpoint("featurize.quarantine_merged")
        if counts.accepted:
            _merge_sources(catalog, accepted, firsts)
        checkpoint("featurize.sources_merged")
        if counts.features:  # a quarantined molecule keeps none of its features, even those that succeeded
            _append_features(catalog, library, good.join(failed_new, "inchikey", "left_anti"))
        checkpoint("featurize.features_appended")
        if counts.accepted:
            _merge_molecules(catalog, library, accepted, firsts)
        checkpoint("featurize.molecules_merged")
        return counts


def _slice_counts(standardized, failed_accepted, firsts, computed) -> _Counts:
    """A slice's figures in one query, not six: on Apache Spark each query is planned and compiled (code generation
    is a quarter of the server's time in the test suite), seconds per slice. ``failed_accepted``: the accepted rows
    whose new molecule a featurizer failed on (quarantined after all)."""
    from functools import reduce

    from pyspark.sql import functions as F

    def tally(frame, kind: str, key):
        return frame.groupBy(F.lit(kind).alias("kind"), key.cast("string").alias("key")).count()

    rows = reduce(
        lambda a, b: a.unionByName(b),
        [
            tally(standardized, "reason", F.col("reason")),  # None: accepted by standardization
            tally(failed_accepted, "failed", F.lit(None)),
            tally(firsts, "new", F.lit(None)),
            tally(computed, "feature", F.when(F.col("error").isNull(), F.col("featurizer"))),  # None: an error
        ],
    ).collect()
    by = {(row["kind"], row["key"]): row["count"] for row in rows}
    failed = by.get(("failed", None), 0)
    reasons = Counter({key: n for (kind, key), n in by.items() if kind == "reason" and key is not None})
    if failed:
        reasons[Reason.FEATURIZER_ERROR.value] += failed
    return _Counts(
        rows=sum(n for (kind, _), n in by.items() if kind == "reason"),
        new=by.get(("new", None), 0),
        accepted=by.get(("reason", None), 0) - failed,
        reasons=reasons,
        features=Counter({key: n for (kind, key), n in by.items() if kind == "feature" and key is not None}),
        feature_errors=by.get(("feature", None), 0),
    )


def _standardize(
    catalog: Catalog, library: str, piece: Slice | None, options: StandardizeOptions, workers: int, folder
):
    """Pass 1: the slice's raw rows -> standardized (or rejected), staged as Parquet."""
    from pyspark.sql import functions as F

    rows = (
        F.lit(False)
        if piece is None
        else ((F.col("load_id") == piece.load_id) & F.col("source_row").between(piece.first, piece.last))
    )
    raw = catalog.read("library_raw").where((F.col("library") == library) & rows)
    columns = [
        "library",
        "load_id",
        "source_file",
        "source_row",
        "record_id",
        "structure",
        "structure_format",
        "labels",
        "read_error",
        "read_error_detail",
        "loaded_at",
    ]
    chunk = catalog.settings.featurize.chunk_rows

    def udf(batches):
        yield from iter_batches(batches, standardize_batch, options, workers, chunk)

    with progress.track("standardize", unit="rows"):
        return stage(catalog.spread(raw.select(*columns)).mapInArrow(udf, _STANDARDIZED), folder / "standardized")


def _first_sightings(ok, molecules):
    """Accepted rows whose InChIKey is new to the library: the earliest row per InChIKey."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("inchikey").orderBy("loaded_at", "load_id", "source_row")
    return (
        ok.join(molecules.select("inchikey"), "inchikey", "left_anti")
        .withColumn("_rank", F.row_number().over(order))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )


def _featurize_missing(catalog, library, candidates, featurizers, workers, folder):
    """Pass 2: every (candidate molecule, spec) that has no feature row yet, computed once; staged as Parquet."""
    from pyspark.sql import functions as F

    specs = catalog.spark.createDataFrame([(f.spec,) for f in featurizers], "spec STRING")
    have = catalog.read("features").where(F.col("library") == library).select("inchikey", "spec")
    wanted = (
        candidates.crossJoin(specs)
        .join(have, ["inchikey", "spec"], "left_anti")
        .groupBy("inchikey", "smiles")
        .agg(F.sort_array(F.collect_list("spec")).alias("specs"))
    )
    chunk = max(1, catalog.settings.featurize.chunk_rows // 2)

    def udf(batches):
        yield from iter_batches(batches, featurize_batch, featurizers, workers, chunk)

    with progress.track("featurize", unit="molecules"):
        return stage(catalog.spread(wanted).mapInArrow(udf, _FEATURES), folder / "features")


def _merge_quarantine(catalog: Catalog, quarantined) -> None:
    from pyspark.sql import functions as F

    catalog.merge(
        "quarantine",
        quarantined.withColumn("quarantined_at", F.current_timestamp()),
        ["library", "load_id", "source_row"],
    )


def _merge_sources(catalog: Catalog, accepted, firsts) -> None:
    from pyspark.sql import functions as F

    marked = accepted.join(
        firsts.select("load_id", "source_row", F.lit(True).alias("is_first")), ["load_id", "source_row"], "left"
    ).select("*", F.current_timestamp().alias("processed_at"))
    catalog.merge("molecule_sources", marked.fillna(False, subset=["is_first"]), ["library", "load_id", "source_row"])


def _append_features(catalog: Catalog, library: str, computed) -> None:
    """A plain append: ``computed`` holds only (molecule, spec) pairs that had no row when the pass started
    (:func:`_featurize_missing`), so a re-run after a crash recomputes nothing already stored."""
    from pyspark.sql import functions as F

    catalog.append(
        "features", computed.select("*", F.lit(library).alias("library"), F.current_timestamp().alias("computed_at"))
    )


def _merge_molecules(catalog: Catalog, library: str, accepted, firsts) -> None:
    """New molecules are inserted; every touched molecule gets labels and source count recomputed from all its
    sources (labels: the mean of every measurement of that label)."""
    from pyspark.sql import functions as F

    sources = (
        catalog.read("molecule_sources")
        .where(F.col("library") == library)
        .join(accepted.select("inchikey").distinct(), "inchikey", "left_semi")
    )
    counts = sources.groupBy("inchikey").agg(F.count(F.lit(1)).alias("n_sources"))
    means = (
        sources.select("inchikey", F.explode("labels").alias("label", "value"))
        .groupBy("inchikey", "label")
        .agg(F.avg("value").alias("value"))
        .groupBy("inchikey")
        .agg(F.map_from_entries(F.collect_list(F.struct("label", "value"))).alias("labels"))
    )
    now = F.current_timestamp()
    updates = (
        counts.join(means, "inchikey", "left")
        .join(
            firsts.select(
                "inchikey",
                "smiles",
                "scaffold",
                "heavy_atoms",
                F.col("load_id").alias("first_load_id"),
                F.col("source_row").alias("first_source_row"),
            ),
            "inchikey",
            "left",
        )
        .select(
            "*",
            F.lit(library).alias("library"),
            F.coalesce("labels", F.create_map().cast("map<string,double>")).alias("_labels"),
            now.alias("created_at"),
            now.alias("updated_at"),
        )
        .drop("labels")
        .withColumnRenamed("_labels", "labels")
    )
    catalog.merge(
        "molecules",
        updates,
        ["library", "inchikey"],
        update="t.labels = s.labels, t.n_sources = s.n_sources, t.updated_at = s.updated_at",
    )


def _register_specs(catalog: Catalog, featurizers: Sequence[Featurizer]) -> None:
    from pyspark.sql import functions as F

    wanted = {f.spec for f in featurizers}
    if catalog.exists("featurizer_specs"):
        registered = catalog.read("featurizer_specs").where(F.col("spec").isin(*wanted)).select("spec").collect()
        if {row["spec"] for row in registered} == wanted:
            return  # a read, not a MERGE that would change nothing (a second on Apache Spark)
    rows = [f.describe() for f in featurizers]
    specs = catalog.spark.createDataFrame(
        [
            (r["featurizer"], r["spec"], r["version"], r["kind"], r["dim"], r["params"], r["feature_names"])
            for r in rows
        ],
        "featurizer STRING, spec STRING, version INT, kind STRING, dim INT, params STRING, feature_names ARRAY<STRING>",
    ).select("*", F.current_timestamp().alias("registered_at"))
    catalog.merge("featurizer_specs", specs, ["spec"])
