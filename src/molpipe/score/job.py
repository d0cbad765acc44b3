"""``molpipe score``: a library's pool, scored by one registered model version, ranked into ``candidates``.

The pool streams through an Arrow UDF whose batches go to worker processes (:mod:`molpipe.score.batch`) and is never
collected into the driver; a molecule the model fails on goes to ``quarantine``, never to ``candidates``. What is
scored, and how, is in docs/scoring-and-lab.md.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from molpipe.chem.filters import Screen
from molpipe.chem.reasons import Reason
from molpipe.config import ScoreOptions, env_name
from molpipe.featurize.domain import TrainingIndex, on_bits
from molpipe.featurize.read import check_featurized, join_features
from molpipe.lake.tables import Catalog, stage
from molpipe.models.calibration import check_coverage
from molpipe.models.predictor import ModelFolder, model_dir, resolve_uncertainty
from molpipe.registry import tracking
from molpipe.registry.card import ModelCard
from molpipe.registry.lookup import existing_run
from molpipe.registry.reference import ModelRef, PinnedModel
from molpipe.runtime import progress, staging
from molpipe.runtime.faults import checkpoint
from molpipe.runtime.parallel import map_batches, map_chunks, warm
from molpipe.score import WORKER_MODULES
from molpipe.score.acquisition import ACQUISITIONS, Acquirer, AcquisitionContext
from molpipe.score.batch import STAGED_SCHEMA, ScoreBatch, ScoreChunk, load_predictor
from molpipe.split.read import SPLITS, latest_split_id, split_id_of, training_set

# A rank is one global order: the single sorted partition Spark Connect warns about (at plan time) is intended.
warnings.filterwarnings("ignore", message=".*No Partition Defined for Window operation")

_DDL_TYPES = {pa.string(): "STRING", pa.float64(): "DOUBLE", pa.int32(): "INT", pa.bool_(): "BOOLEAN"}
_DDL_TYPES[pa.list_(pa.string())] = "ARRAY<STRING>"
_STAGED_DDL = ", ".join(f"{f.name} {_DDL_TYPES[f.type]}" for f in STAGED_SCHEMA)


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
    filter_profile: str
    passing_filters: int
    seconds: float
    top: list[dict[str, Any]] = field(default_factory=list)
    table: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # seconds_setup, seconds_score, seconds_write

    def describe(self) -> str:
        """What ``molpipe score`` prints: the run, where its rows went, and its top candidates."""
        lines = [
            f"scored {self.scored:,} of {self.pool:,} pool molecules of {self.library} with {self.model_name} "
            f"v{self.model_version} ({self.label}; {self.uncertainty} uncertainty, {self.acquisition} acquisition) "
            f"in {self.seconds:.0f} s; {self.invalid} failed (quarantined); "
            + (
                f"{self.passing_filters:,} pass the {self.filter_profile} filters"
                if self.filter_profile != "none"
                else "no filter profile"
            ),
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


def score(
    catalog: Catalog,
    *,
    library: str,
    model: str,
    options: ScoreOptions,
    workers: int = 1,
    run_id: str | None = None,
    split_id: str | None = None,
    label: str | None = None,
) -> ScoreSummary:
    """Score ``library``'s pool with ``model`` (``NAME@alias``, ``NAME/VERSION`` or ``NAME``) into ``candidates``,
    ranked by acquisition: one MLflow scoring run, whose rows ``run_id`` replaces when given."""
    import mlflow

    started = time.monotonic()
    _check(options)
    settings, databricks = catalog.settings, catalog.databricks
    tracking.configure(settings, databricks)
    ref = ModelRef.parse(model).registered(settings=settings, databricks=databricks)
    version = ref.resolve()
    card = ModelCard.of(version)
    label = label or card.task.labels[0]
    if label not in card.task.labels:
        raise ValueError(f"model {ref.name} v{version.version} predicts {', '.join(card.task.labels)}, not {label!r}")
    check_featurized(catalog, library)
    if run_id:
        existing_run(mlflow.MlflowClient(), run_id, flag="--run-id")
    pinned = PinnedModel.of(ref.name, str(version.version))
    filters = settings.filters
    screen = Screen.of(profile_name=filters.profile, alerts=filters.alerts, smarts_file=filters.smarts_file)
    profile_name = screen.judged_by.name if screen else "none"
    with staging.folder(settings, f"score-{library}") as folder:
        model_run = _load_model(pinned, folder, workers, options.uncertainty)
        training = training_set(catalog, library=card.library, split_id=card.split_id, label=label)
        index, incumbent = _training_index(training, workers, options.direction == "maximize")
        pool, pool_split = _pool(catalog, library, split_id, card.library, card.split_id)
        trained_in = mlflow.get_run(version.run_id).info.experiment_id
        experiment = tracking.scoring_experiment_id(settings, trained_in, databricks)
        name = f"score-{library}-{ref.name.rsplit('.', 1)[-1]}-v{version.version}"
        run_args = {"run_id": run_id} if run_id else {"experiment_id": experiment, "run_name": name}
        with mlflow.start_run(**run_args) as run:
            scoring_run = run.info.run_id
            mlflow.set_tags({**tracking.run_tags("scoring"), "molpipe.library": library})
            if not run_id:  # a re-run keeps the parameters it was first logged with
                mlflow.log_params(
                    {
                        "library": library,
                        "model_name": ref.name,
                        "model_version": version.version,
                        "model_alias": ref.alias or "",
                        "label": label,
                        "uncertainty": model_run.uncertainty,
                        "training_split_id": card.split_id,
                        "pool_split_id": pool_split or "",
                        "incumbent": incumbent,
                        "filter_profile": profile_name,
                        "filter_alerts": ",".join(screen.families) if screen else "",
                        **_option_params(options),
                    }
                )
            scoring = _scoring_task(
                model_run, index, folder, card.task.labels.index(label), options, incumbent, workers, screen
            )
            pieces = _pool_slices(catalog, library, pool, model_run.folder.featurizers, options.slice_rows)
            phases = {"seconds_setup": time.monotonic() - started}
            scored = _score_rows(
                [catalog.spread(rows) for rows in pieces], scoring, workers, options.chunk_rows, folder / "scored"
            )
            phases["seconds_score"] = time.monotonic() - started - sum(phases.values())
            stats = _run_stats(scored)
            checkpoint("score.staged")
            if stats["invalid"]:
                errors = scored.where(scored["error"].isNotNull()).select("inchikey", "error")
                _quarantine(catalog, library, errors.join(pool, "inchikey"), scoring_run, pinned.uri)
            labels = {
                "scoring_run_id": scoring_run,
                "library": library,
                "acquisition": options.acquisition,
                "label": label,
                "model_name": ref.name,
                "model_version": str(version.version),
                "model_alias": ref.alias,
                "training_split_id": card.split_id,
                "filter_profile": profile_name,
            }
            _write_candidates(catalog, scored, labels, replace_run=bool(run_id))
            checkpoint("score.written")
            top = _top(scored)
            phases["seconds_write"] = time.monotonic() - started - sum(phases.values())
            mlflow.log_metrics({**stats, **phases, "seconds": time.monotonic() - started})
    return ScoreSummary(
        run_id=scoring_run,
        library=library,
        model_name=ref.name,
        model_version=str(version.version),
        model_alias=ref.alias,
        label=label,
        training_split_id=card.split_id,
        pool_split_id=pool_split,
        acquisition=options.acquisition,
        uncertainty=model_run.uncertainty,
        pool=stats["pool"],
        scored=stats["scored"],
        invalid=stats["invalid"],
        filter_profile=profile_name,
        passing_filters=int(stats["passing_filters"]),
        seconds=round(time.monotonic() - started, 1),
        top=top,
        table=catalog.location("candidates"),
        phases={name: round(value, 1) for name, value in phases.items()},
    )


def _check(options: ScoreOptions) -> None:
    if options.acquisition not in ACQUISITIONS.names():
        raise ValueError(f"unknown acquisition {options.acquisition!r}; choose from {', '.join(ACQUISITIONS.names())}")
    if options.direction not in ("maximize", "minimize"):
        raise ValueError(f"score direction must be maximize or minimize, not {options.direction!r}")
    if options.mc_samples < 1:
        raise ValueError(
            f"config: score.mc_samples={options.mc_samples} must be at least 1 ({env_name('score.mc_samples')})"
        )
    check_coverage(options.coverage)


@dataclass(frozen=True)
class _ModelRun:
    """The version a run scores with: where its workers load it from, its folder's configuration, the uncertainty."""

    source: PinnedModel  # the local copy for worker processes on this machine; the registry's for an executor
    folder: ModelFolder
    uncertainty: str


def _load_model(pinned: PinnedModel, scratch, workers: int, uncertainty: str) -> _ModelRun:
    """Download the version once; worker processes on this machine load that copy while the driver plans (it reads
    the model's configuration, never runs it); executors of a cluster download it themselves."""
    local = pinned.download(scratch / "model")
    source = local if workers > 1 else pinned
    warm(partial(load_predictor, source), workers, WORKER_MODULES)
    folder = model_dir(local.folder)
    if folder is None:
        raise ValueError(f"{pinned.uri} is not a molpipe model (no model_dir artifact): it cannot be scored")
    model_folder = ModelFolder.read(folder)
    members = len(model_folder.weights)
    method = uncertainty
    if method == "auto":
        method = "ensemble" if members > 1 else "mc-dropout"
    return _ModelRun(source, model_folder, resolve_uncertainty(method, members))


def _scoring_task(
    model: _ModelRun,
    index: TrainingIndex,
    scratch,
    label: int,
    options: ScoreOptions,
    incumbent: float,
    workers: int,
    screen: Screen | None,
) -> ScoreBatch:
    """What each worker runs on a batch of pool rows: the model's scores of ``label`` and their acquisition."""
    index_source: bytes | str = index.to_bytes()
    if workers > 1:  # local worker processes: a file, not megabytes pickled with every chunk
        (scratch / "training-index.npz").write_bytes(index_source)
        index_source = str(scratch / "training-index.npz")
    chunk = ScoreChunk(
        model.source,
        index_source,
        label,
        model.uncertainty,
        options.mc_samples,
        screen,
        options.seed,
        options.coverage,
        torch_threads=1 if workers > 1 else 0,
    )
    context = AcquisitionContext(incumbent, options.beta, options.xi, options.seed)
    return ScoreBatch(chunk, Acquirer(options.acquisition, context, options.direction == "maximize"))


def _run_stats(scored) -> dict[str, float]:
    """Every figure of the run in one pass over the staged scores (no re-read of the table or the pool)."""
    from pyspark.sql import functions as F

    good = F.col("error").isNull()
    row = scored.agg(
        F.count(F.lit(1)),
        F.count(F.col("error")),
        F.avg(F.when(good, F.col("prediction"))),
        F.avg(F.when(good, F.col("uncertainty"))),
        F.avg(F.when(good, F.col("ad_similarity"))),
        F.count(F.when(good & F.col("passes_filters"), F.lit(1))),
    ).first()
    return {
        "pool": row[0],
        "scored": row[0] - row[1],
        "invalid": row[1],
        "mean_prediction": row[2] or 0.0,
        "mean_uncertainty": row[3] or 0.0,
        "mean_ad_similarity": row[4] or 0.0,
        "passing_filters": row[5],
    }


def _option_params(options: ScoreOptions) -> dict[str, Any]:
    """The scoring options a run logs as MLflow parameters."""
    names = ("acquisition", "mc_samples", "beta", "xi", "direction", "seed", "coverage")
    return {name: getattr(options, name) for name in names}


def _ranked_order():
    """A rank's order: best acquisition first, ties by InChIKey."""
    from pyspark.sql import functions as F

    return [F.desc("acquisition_score"), F.asc("inchikey")]


def _write_candidates(catalog: Catalog, scored, labels: dict[str, str | None], *, replace_run: bool) -> None:
    """The run's scored molecules, ranked over the whole run, appended to ``candidates`` (after deleting the run's
    earlier rows when it is re-run)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    with warnings.catch_warnings():  # one global order is the point of a rank: a single sorted partition
        warnings.filterwarnings("ignore", message=".*No Partition Defined for Window")
        ranked = scored.where(F.col("error").isNull()).withColumn(
            "rank", F.row_number().over(Window.orderBy(*_ranked_order())).cast("bigint")
        )
    # the run's constant columns beside the scored ones; append takes the table's columns by name, in its order
    constants = [F.lit(value).cast("string").alias(name) for name, value in labels.items()]
    rows_out = ranked.select("*", *constants, F.current_timestamp().alias("scored_at"))
    if replace_run:  # a re-run replaces its rows; a new run id has none to replace
        run = labels["scoring_run_id"]
        catalog.delete("candidates", where=f"scoring_run_id = '{run}'")
        checkpoint("score.run_deleted")  # killed here, the run has no candidates until it is re-run again
    catalog.append("candidates", rows_out)


def _top(scored, n: int = 10) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F

    best = scored.where(F.col("error").isNull()).orderBy(*_ranked_order()).limit(n)
    rows = best.select(
        "inchikey", "smiles", "prediction", "uncertainty", "ad_similarity", "acquisition_score"
    ).collect()
    return [{"rank": rank, **row.asDict()} for rank, row in enumerate(rows, start=1)]


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
    if split_id is not None:
        split_id_of(catalog, library, split_id)  # a --split-id the library does not have fails naming those it has
    elif library == train_library:
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
        F.lit(library).alias("library"),
        F.lit(f"score:{run_id}").alias("load_id"),
        F.lit(model_uri).alias("source_file"),
        F.col("first_source_row").alias("source_row"),
        F.col("inchikey").alias("record_id"),
        F.col("smiles").alias("structure"),
        F.lit("smiles").alias("structure_format"),
        F.lit(Reason.SCORING_ERROR.value).alias("reason"),
        F.col("error").alias("detail"),
        F.current_timestamp().alias("quarantined_at"),
    )
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
