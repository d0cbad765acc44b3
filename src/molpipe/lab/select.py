"""``molpipe select``: a scoring run's candidates -> the batch for the lab (CSV + HTML report, ``selections``).

The candidates are ranked by the run's own acquisition score, or re-scored with another ``--strategy`` from their
stored prediction and uncertainty (with the run's incumbent, beta, xi and seed from its MLflow parameters); the
best ``k * oversample`` go to the diversity step (:mod:`molpipe.lab.diversity`), which picks ``k``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpipe.config import SelectOptions
from molpipe.lab.diversity import pick
from molpipe.lab.report import write_batch
from molpipe.lake.tables import Catalog
from molpipe.score.acquisition import Acquirer, AcquisitionContext


@dataclass
class SelectSummary:
    batch_id: str
    run_id: str
    library: str
    strategy: str
    diversity: str
    k: int
    selected: int
    files: dict[str, str] = field(default_factory=dict)
    batch: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """What ``molpipe select`` prints: the batch and the files the lab gets."""
        return (
            f"batch {self.batch_id}: {self.selected} molecules by {self.strategy} ({self.diversity} diversity)\n"
            f"  {self.files['csv']}\n  {self.files['html']}"
        )


def select(
    catalog: Catalog, *, run_id: str, options: SelectOptions, out_dir: str | Path, strategy: str | None = None
) -> SelectSummary:
    """Pick the lab batch of ``options.k`` molecules from scoring run ``run_id`` (diverse by ``options.diversity``),
    record it in ``selections`` and write its CSV and HTML report to ``out_dir``."""
    import mlflow
    from pyspark.sql import functions as F

    from molpipe.registry import tracking

    run = catalog.read("candidates").where(F.col("scoring_run_id") == run_id)
    meta = run.select("library", "acquisition", "model_name", "model_version").first()
    if meta is None:
        raise ValueError(
            f"no scoring run {run_id!r} in candidates: see `molpipe sql 'SELECT DISTINCT scoring_run_id "
            "FROM candidates'`"
        )
    strategy = strategy or meta["acquisition"]
    n = options.k * max(1, options.oversample)
    if strategy == meta["acquisition"]:
        top = run.orderBy("rank").limit(n)
    else:
        tracking.configure(catalog.settings, catalog.databricks)
        params = mlflow.get_run(run_id).data.params
        context = AcquisitionContext(
            float(params["incumbent"]), float(params["beta"]), float(params["xi"]), int(params["seed"])
        )
        rescored = _rescore(
            run.drop("acquisition_score"), Acquirer(strategy, context, params["direction"] == "maximize")
        )
        top = rescored.orderBy(F.desc("acquisition_score"), "inchikey").limit(n)
    ordered = top.toPandas().reset_index(drop=True)
    batch = pick(ordered, options.k, options.diversity, seed=0).reset_index(drop=True)
    batch.insert(0, "position", range(1, len(batch) + 1))
    batch["uncertainty"] = batch["uncertainty"].astype(object).where(batch["uncertainty"].notna(), None)
    batch_id = f"{run_id[:8]}-{strategy}-{uuid.uuid4().hex[:6]}"
    rows = catalog.spark.createDataFrame(
        batch[["inchikey", "smiles", "position", "prediction", "uncertainty", "acquisition_score"]]
    ).select(
        F.lit(batch_id).alias("batch_id"),
        F.lit(run_id).alias("scoring_run_id"),
        F.lit(meta["library"]).alias("library"),
        "inchikey",
        "smiles",
        F.col("position").cast("int"),
        F.lit(strategy).alias("strategy"),
        F.lit(options.diversity).alias("diversity"),
        "prediction",
        "uncertainty",
        "acquisition_score",
        F.current_timestamp().alias("selected_at"),
    )
    catalog.append("selections", rows)
    title = (
        f"Lab batch {batch_id}: {len(batch)} of {meta['library']} by {strategy} ({options.diversity} diversity), "
        f"{meta['model_name']} v{meta['model_version']}"
    )
    files = write_batch(batch, Path(out_dir), batch_id, title)
    columns = ["position", "inchikey", "smiles", "prediction", "uncertainty", "acquisition_score"]
    return SelectSummary(
        batch_id,
        run_id,
        meta["library"],
        strategy,
        options.diversity,
        options.k,
        len(batch),
        files,
        batch[columns].to_dict("records"),
    )


def _rescore(candidates, acquirer: Acquirer):
    """``candidates`` with ``acquisition_score`` from their stored prediction and uncertainty (a pandas map)."""

    def udf(frames):
        for frame in frames:
            keys = frame["inchikey"].tolist()
            frame["acquisition_score"] = acquirer(
                frame["prediction"].to_numpy(), frame["uncertainty"].to_numpy(dtype=float), keys
            )
            yield frame

    return candidates.mapInPandas(udf, candidates.schema.add("acquisition_score", "double"))
