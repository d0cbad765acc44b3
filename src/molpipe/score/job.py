"""``molpipe score``: the library's pool, scored by a registered model, ranked into the Delta table ``candidates``.

* **model**: ``NAME@alias`` (default ``@champion``) or ``NAME/VERSION``, resolved once to a version, downloaded
  once: the driver reads its configuration (no torch), worker processes on its machine load that copy, executors of
  a cluster the registry's (:mod:`molpipe.score.batch`);
* **pool**: the library's molecules in the ``pool`` of a split (by default the split the model was trained on, if
  the library is the model's own; else the library's latest split; a library never split is all pool), minus
  every molecule the model was trained, validated or tested on. Molecules come from ``molecules``, i.e. already
  standardized: invalid input rows were quarantined by ``molpipe featurize`` and never reach a model;
* **features**: read from ``features`` where stored, computed by the worker where a spec is missing or cheaper to
  compute than to read back (``Featurizer.cheap``: Morgan fingerprints), so that for such models the pool streams
  through the job with no join holding it; stored ones are joined one hash slice of the pool at a time;
* **per molecule**: prediction of one label, uncertainty (ensemble spread or MC-dropout), applicability domain
  (max Tanimoto to the training set) and the acquisition score, computed in an iterator-form Arrow UDF
  (``mapInArrow``) whose batches go to the worker pool (:mod:`molpipe.runtime.parallel`); a molecule the model fails on
  goes to ``quarantine`` (reason ``scoring_error``, load ``score:<run id>``), never to ``candidates``;
* **rank** over the whole run by acquisition score (ties by InChIKey).

Each scoring run is an MLflow run in the model's experiment; its run id is ``scoring_run_id``. Re-running with
``--run-id`` replaces that run's rows; a new run adds its own. The pool is never collected into the driver.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from molpipe.chem.reasons import Reason
from molpipe.config import ScoreOptions
from molpipe.featurize.read import join_features
from molpipe.lake.tables import Catalog, stage
from molpipe.models.predictor import ModelFolder, model_dir, resolve_uncertainty
from molpipe.registry import tracking
from molpipe.registry.tracking import CHAMPION
from molpipe.runtime import progress
from molpipe.runtime.parallel import map_batches, map_chunks, warm
from molpipe.score import WORKER_MODULES
from molpipe.score.acquisition import ACQUISITIONS, Acquirer, AcquisitionContext
from molpipe.score.batch import STAGED_SCHEMA, ModelRef, ScoreBatch, ScoreChunk, download_model, load_predictor
from molpipe.score.domain import TrainingIndex, on_bits
from molpipe.split.read import SPLITS, latest_split_id

# A rank is one global order: the single sorted partition Spark Connect warns about (at plan time) is intended.
warnings.filterwarnings("ignore", message=".*No Partition Defined for Window operation")

_STAGED_DDL = ", ".join(f"{f.name} {'STRING' if f.type == pa.string() else 'DOUBLE'}" for f in STAGED_SCHEMA)


@dataclass
class ScoreSummary:
    run_id: str
    library: str
    model_name: str
    model_version: str
    model_alias: str | None
    label: str
    training_split_id: str
    pool_split_id: str | None
    acquisition: str
    uncertainty: str
    pool: int
    scored: int
    invalid: int
    seconds: float
    top: list[dict[str, Any]] = field(default_factory=list)
    table: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # seconds_setup, seconds_score, seconds_write

    def describe(self) -> str:
        """What ``molpipe score`` prints: the run, where its rows went, and its top candidates."""
        lines = [
            f"scored {self.scored:,} of {self.pool:,} pool molecules of {self.library} with {self.model_name} "
            f"v{self.model_version} ({self.label}; {self.uncertainty} uncertainty, {self.acquisition} acquisition) "
            f"in {self.seconds:.0f} s; {self.invalid} failed (quarantined)",
            f"scoring run {self.run_id} -> {self.table}",
            "top candidates:",
            "  rank  prediction  uncertainty  AD sim  acquisition  SMILES",
        ]
        for row in self.top:
            lines.append(
                f"  {row['rank']:>4}  {row['prediction']:>10.3f}  {row['uncertainty'] or 0:>11.3f}  "
                f"{row['ad_similarity']:>6.2f}  {row['acquisition_score']:>11.3f}  {row['smiles']}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """``NAME@alias``, ``NAME/VERSION`` or ``NAME`` (its champion)."""
        if "@" in text:
            name, alias = text.split("@", 1)
            return cls(name, alias=alias)
        if "/" in text:
            name, version = text.rsplit("/", 1)
            if not version.isdigit():
                raise ValueError(f"model {text!r}: a version after '/' is a number (NAME/3), or use NAME@alias")
            return cls(name, version=version)
        return cls(text, alias=CHAMPION)


def resolve_model(registered: str, spec: ModelSpec):
    """The registry's ModelVersion for an alias or a version number."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        if spec.alias:
            return client.get_model_version_by_alias(registered, spec.alias)
        return client.get_model_version(registered, spec.version)
    except MlflowException:
        what = f"alias {spec.alias!r}" if spec.alias else f"version {spec.version}"
        raise ValueError(f"model {registered!r} has no {what}: train, validate and promote one first") from None


def score(
    catalog: Catalog,
    library: str,
    model: str,
    options: ScoreOptions,
    workers: int = 1,
    run_id: str | None = None,
    split_id: str | None = None,
    label: str | None = None,
) -> ScoreSummary:
    import mlflow
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    started = time.monotonic()
    settings, databricks = catalog.settings, catalog.databricks
    if options.acquisition not in ACQUISITIONS.names():
        raise ValueError(f"unknown acquisition {options.acquisition!r}; choose from {', '.join(ACQUISITIONS.names())}")
    if options.direction not in ("maximize", "minimize"):
        raise ValueError(f"score direction must be maximize or minimize, not {options.direction!r}")
    tracking.configure(settings, databricks)
    spec = ModelSpec.parse(model)
    registered = tracking.registered_name(settings, spec.name, databricks)
    version = resolve_model(registered, spec)
    task = json.loads(version.tags["task"])
    label = label or task["labels"][0]
    if label not in task["labels"]:
        raise ValueError(f"model {registered} v{version.version} predicts {', '.join(task['labels'])}, not {label!r}")
    ref = ModelRef(f"models:/{registered}/{version.version}", mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    staging = settings.home_path / "staging" / f"score-{library}-{uuid.uuid4().hex[:8]}"
    try:
        local = download_model(ref, staging / "model")  # worker processes on this machine load this copy
        # the workers load the model while the driver plans (it reads the model's configuration, never runs it);
        # executors of a cluster download it themselves
        worker_ref = local if workers > 1 else ref
        warm(partial(load_predictor, worker_ref), workers, WORKER_MODULES)
        folder = model_dir(local.folder)
        if folder is None:
            raise ValueError(f"{ref.uri} is not a molpipe model (no model_dir artifact): it cannot be scored")
        model_folder = ModelFolder.read(folder)
        members = len(model_folder.weights)
        method = options.uncertainty
        if method == "auto":
            method = "ensemble" if members > 1 else "mc-dropout"
        method = resolve_uncertainty(method, members)

        train_library, train_split = version.tags["library"], version.tags["split_id"]
        training = _training_set(catalog, train_library, train_split, label)
        index, incumbent = _training_index(training, workers, options.direction == "maximize")
        pool, pool_split = _pool(catalog, library, split_id, train_library, train_split)
        experiment = mlflow.get_run(version.run_id).info.experiment_id
        run_args = {"run_id": run_id} if run_id else {"experiment_id": experiment, "run_name": f"score-{library}"}
        with mlflow.start_run(**run_args) as run:
            scoring_run = run.info.run_id
            mlflow.set_tags({"molpipe.kind": "scoring", "molpipe.library": library})
            if not run_id:
                mlflow.log_params({"library": library, "model_name": registered, "model_version": version.version,
                                   "model_alias": spec.alias or "", "label": label, "acquisition": options.acquisition,
                                   "uncertainty": method, "mc_samples": options.mc_samples, "beta": options.beta,
                                   "xi": options.xi, "direction": options.direction, "seed": options.seed,
                                   "training_split_id": train_split, "pool_split_id": pool_split or "",
                                   "incumbent": incumbent})  # fmt: skip
            index_source: bytes | str = index.to_bytes()
            if workers > 1:  # local worker processes: a file, not megabytes pickled with every chunk
                (staging / "training-index.npz").write_bytes(index_source)
                index_source = str(staging / "training-index.npz")
            chunk = ScoreChunk(
                worker_ref, index_source, task["labels"].index(label), method, options.mc_samples, options.seed,
                torch_threads=1 if workers > 1 else 0,
            )  # fmt: skip
            context = AcquisitionContext(incumbent, options.beta, options.xi, options.seed)
            scoring = ScoreBatch(chunk, Acquirer(options.acquisition, context, options.direction == "maximize"))
            pieces = _pool_slices(catalog, library, pool, model_folder.featurizers, options.slice_rows)
            slices = [catalog.spread(rows) for rows in pieces]
            phases = {"seconds_setup": time.monotonic() - started}
            scored = _score_rows(slices, scoring, workers, options.chunk_rows, staging / "scored")
            phases["seconds_score"] = time.monotonic() - started - sum(phases.values())
            # one pass over the staged scores for every figure of the run (no re-read of the table or the pool)
            good = F.col("error").isNull()
            stats = scored.agg(
                F.count(F.lit(1)), F.count(F.col("error")), F.avg(F.when(good, F.col("prediction"))),
                F.avg(F.when(good, F.col("uncertainty"))), F.avg(F.when(good, F.col("ad_similarity"))),
            ).first()  # fmt: skip
            pool_count, invalid = stats[0], stats[1]
            count = pool_count - invalid
            if invalid:
                errors = scored.where(~good).select("inchikey", "error")
                _quarantine(catalog, library, errors.join(pool, "inchikey"), scoring_run, ref.uri)
            with warnings.catch_warnings():  # one global order is the point of a rank: a single sorted partition
                warnings.filterwarnings("ignore", message=".*No Partition Defined for Window")
                order = [F.desc("acquisition_score"), F.asc("inchikey")]
                ranked = scored.where(good).withColumn(
                    "rank", F.row_number().over(Window.orderBy(*order)).cast("bigint")
                )
            now = F.current_timestamp()
            rows_out = ranked.select(
                F.lit(scoring_run).alias("scoring_run_id"), F.lit(library).alias("library"), "inchikey", "smiles",
                "scaffold", "prediction", "uncertainty", "ad_similarity", F.lit(options.acquisition).alias("acquisition"),
                "acquisition_score", "rank", F.lit(label).alias("label"), F.lit(registered).alias("model_name"),
                F.lit(str(version.version)).alias("model_version"), F.lit(spec.alias).cast("string").alias("model_alias"),
                F.lit(train_split).alias("training_split_id"), now.alias("scored_at"),
            )  # fmt: skip
            if run_id:  # a re-run replaces its rows; a new run id has none to replace
                catalog.spark.sql(f"DELETE FROM {catalog.ref('candidates')} WHERE scoring_run_id = '{run_id}'")
            catalog.append("candidates", rows_out)
            top = [
                {"rank": rank, **row.asDict()}
                for rank, row in enumerate(scored.where(good).orderBy(*order).limit(10).select(
                    "inchikey", "smiles", "prediction", "uncertainty", "ad_similarity", "acquisition_score"
                ).collect(), start=1)
            ]  # fmt: skip
            phases["seconds_write"] = time.monotonic() - started - sum(phases.values())
            mlflow.log_metrics({"pool": pool_count, "scored": count, "invalid": invalid,
                                "mean_prediction": stats[2] or 0.0, "mean_uncertainty": stats[3] or 0.0,
                                "mean_ad_similarity": stats[4] or 0.0, **phases,
                                "seconds": time.monotonic() - started})  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ScoreSummary(
        run_id=scoring_run, library=library, model_name=registered, model_version=str(version.version),
        model_alias=spec.alias, label=label, training_split_id=train_split, pool_split_id=pool_split,
        acquisition=options.acquisition, uncertainty=method, pool=pool_count, scored=count, invalid=invalid,
        seconds=round(time.monotonic() - started, 1), top=top, table=catalog.location("candidates"),
        phases={name: round(value, 1) for name, value in phases.items()},
    )  # fmt: skip


def _training_set(catalog: Catalog, library: str, split_id: str, label: str):
    """The model's training molecules (split ``train``) with their value of ``label``."""
    from pyspark.sql import functions as F

    return (
        catalog.read("splits")
        .where((F.col("library") == library) & (F.col("split_id") == split_id) & (F.col("split") == "train"))
        .select("inchikey")
        .join(catalog.read("molecules").where(F.col("library") == library), "inchikey")
        .select("smiles", F.col("labels")[label].alias("value"))
    )


def _bits_chunk(smiles: list[str]) -> list:
    return [on_bits(s) for s in smiles]


def _training_index(training, workers: int, maximize: bool) -> tuple[TrainingIndex, float]:
    """The training set's fingerprint index and the incumbent (best training value, oriented)."""
    rows = training.toPandas()
    if rows.empty:
        raise ValueError("the model's training split has no molecules any more: was the split replaced?")
    index = TrainingIndex.from_bits(map_chunks(_bits_chunk, rows["smiles"].tolist(), workers, 1024))
    values = rows["value"].to_numpy(dtype=float) * (1.0 if maximize else -1.0)
    return index, float(np.nanmax(values)) if np.isfinite(values).any() else 0.0


def _pool(catalog: Catalog, library: str, split_id: str | None, train_library: str, train_split: str):
    from pyspark.sql import functions as F

    molecules = catalog.read("molecules").where(F.col("library") == library)
    if split_id is None:
        if library == train_library:
            split_id = train_split
        else:
            try:
                split_id = latest_split_id(catalog, library)
            except ValueError:
                split_id = None  # never split: every molecule is pool
    if split_id is not None:
        in_pool = catalog.read("splits").where(
            (F.col("library") == library) & (F.col("split_id") == split_id) & (F.col("split") == "pool")
        )
        if library != train_library and in_pool.limit(1).count() == 0:
            raise ValueError(f"split {split_id!r} of {library!r} has no pool molecules")
        molecules = in_pool.select("inchikey").join(molecules, "inchikey")
    seen = catalog.read("splits").where(
        (F.col("library") == train_library) & (F.col("split_id") == train_split) & F.col("split").isin(*SPLITS)
    )
    # "molecules the model never saw" as a right join from the (bounded) seen set: a hash join holds its left
    # side, so a left anti join would hold the whole library while the pool streams past (see molpipe.runtime.engine)
    seen = seen.select("inchikey", F.lit(True).alias("_seen"))
    return seen.join(molecules, "inchikey", "right").where(F.col("_seen").isNull()).drop("_seen"), split_id


def _pool_slices(catalog: Catalog, library: str, pool, featurizers, slice_rows: int) -> list:
    """The pool's rows for the workers (``inchikey``, ``smiles``, ``scaffold``, stored feature columns), as one
    query per slice of the pool. Cheap features are left to the workers, so a model that needs no other streams its
    pool in one query that holds nothing per molecule. Stored features come through a hash join that holds its pool
    side (keys, SMILES, scaffolds): the pool is then cut by a hash of the InChIKey into slices of at most ``slice_rows``,
    each joined to the features of its own molecules, so the join's table stays bounded as the pool grows (at the
    price of one scan of the features per slice, seconds against the scoring's minutes)."""
    from pyspark.sql import functions as F

    stored = [featurizer for featurizer in featurizers if not featurizer.cheap]
    pool = pool.select("inchikey", "smiles", "scaffold")
    if not stored:
        return [pool]
    features = catalog.read("features").where(F.col("library") == library)
    count = max(1, -(-pool.count() // max(1, slice_rows)))
    if count == 1:
        return [join_features(pool, features, stored, how="left")]
    part = F.pmod(F.xxhash64("inchikey"), F.lit(count))
    return [join_features(pool.where(part == i), features.where(part == i), stored, how="left") for i in range(count)]


def _score_rows(slices: list, task: ScoreBatch, workers: int, chunk_rows: int, path):
    """Pool rows, a query per slice -> staged Parquet of :data:`~molpipe.score.batch.STAGED_SCHEMA`. The UDF only
    cuts its batches and hands them on: the per-row work (and the boxing of Arrow into Python rows) is the
    workers'."""

    def udf(batches):
        yield from map_batches(task, batches, workers, chunk_rows)  # an empty batch has no slices

    first, *rest = (rows.mapInArrow(udf, _STAGED_DDL) for rows in slices)
    with progress.track("score", unit="molecules"):  # one slice after the other: one slice's join table at a time
        return stage(first, path, *rest)


def _quarantine(catalog: Catalog, library: str, errors, run_id: str, model_uri: str) -> None:
    from pyspark.sql import functions as F

    rows = errors.select(
        F.lit(library).alias("library"), F.lit(f"score:{run_id}").alias("load_id"),
        F.lit(model_uri).alias("source_file"), F.col("first_source_row").alias("source_row"),
        F.col("inchikey").alias("record_id"), F.col("smiles").alias("structure"),
        F.lit("smiles").alias("structure_format"), F.lit(Reason.SCORING_ERROR.value).alias("reason"),
        F.col("error").alias("detail"), F.current_timestamp().alias("quarantined_at"),
    )  # fmt: skip
    catalog.merge("quarantine", rows, ["library", "load_id", "record_id"])


def translate_engine_error(exc: Exception, *, options: ScoreOptions) -> ValueError | None:
    """The user's way out when :func:`score` failed because the engine's memory pool refused an operator that cannot
    spill (a join, a writer): the settings to change, with the engine's first line; None for any other failure."""
    if "for the total memory pool" not in str(exc):
        return None
    return ValueError(
        f"the scoring engine's memory pool ({options.engine_memory_mb} MB) is too small for this pool: raise "
        "MOLPIPE_SCORE__ENGINE_MEMORY_MB (0: unbounded) or lower MOLPIPE_SCORE__SLICE_ROWS "
        f"({str(exc).strip().splitlines()[0][:300]})"
    )
