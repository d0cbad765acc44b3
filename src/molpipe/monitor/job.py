"""``molpipe monitor``: how far each scoring run has drifted from the data its model was trained on.

Descriptor PSI, prediction shift and applicability domain per scoring run, into the ``monitoring`` table, the run's
``drift.*`` metrics and a PNG report. A drifted run calls for a retrain only when the model's training data has
changed since (:func:`training_data_changed`): retraining on the same data cannot answer drift, and would loop.
The current side is counted in Spark (never collected); the reference side once per model version. The measures
and thresholds are in docs/monitoring.md.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molpipe.config import MonitorOptions
from molpipe.featurize.descriptors import descriptor_frame
from molpipe.lake.tables import Catalog
from molpipe.monitor import drift
from molpipe.monitor.drift import Measure
from molpipe.registry import tracking

AD_EDGES = np.round(np.arange(0.05, 1.0, 0.05), 2)  # fixed bins of ad_similarity for the report
RUN_COLUMNS = ["scoring_run_id", "library", "model_name", "model_version", "label", "training_split_id"]


@dataclass
class RunDrift:
    scoring_run_id: str
    library: str
    model_name: str
    model_version: str
    label: str
    training_library: str
    training_split_id: str
    scored: int
    drifted: bool  # past a threshold
    training_data_changed: bool  # since the model was trained
    retrain: bool  # drifted, and retraining would see new data
    reasons: list[str]
    measures: dict[str, float]  # metric[feature] -> value
    report: str


@dataclass
class MonitorSummary:
    monitored: int
    drifted: bool  # any monitored run past a threshold
    retrain: bool  # any drifted run whose model's training data has changed since: retraining can help
    reasons: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    table: str = ""
    seconds: float = 0.0

    def describe(self) -> str:
        """What ``molpipe monitor`` prints: each run's verdict and report, then where the measures went."""
        lines = []
        for run in self.runs:
            verdict = "stable"
            if run["drifted"]:
                verdict = ("RETRAIN: " if run["retrain"] else "DRIFTED (no new training data): ") + "; ".join(
                    run["reasons"]
                )
            lines.append(
                f"scoring run {run['scoring_run_id']} ({run['library']}, {run['scored']:,} molecules, "
                f"{run['model_name']} v{run['model_version']}): {verdict}\n  report {run['report']}"
            )
        lines.append(
            f"{self.monitored} run(s) monitored -> {self.table}"
            if self.monitored
            else "every scoring run is monitored already"
        )
        return "\n".join(lines)


@dataclass
class Reference:
    """The model version's side of every comparison, computed once per version."""

    training_library: str
    descriptors: pd.DataFrame  # training molecules x key descriptors
    predictions: np.ndarray  # the model on its held-out molecules
    training_data_changed: bool  # molecules or splits past the Delta versions the model's run read


def monitor(
    catalog: Catalog,
    *,
    options: MonitorOptions,
    library: str | None = None,
    run: str | None = None,
    out: str | Path | None = None,
) -> MonitorSummary:
    """Measure the drift of each scoring run not monitored yet (or ``run``) against its model's training data,
    into ``monitoring``, MLflow and a PNG report per run."""
    from molpipe.monitor import report

    started = time.monotonic()
    tracking.configure(catalog.settings, catalog.databricks)
    names = [n.strip() for n in options.descriptors.split(",") if n.strip()]
    folder = Path(out) if out else catalog.settings.home_path / "reports" / "monitor"
    references: dict[tuple[str, str, str], Reference] = {}
    summary = MonitorSummary(0, False, False, table=catalog.location("monitoring"))
    for info in _runs_to_monitor(catalog, library, run):
        key = (info["model_name"], info["model_version"], info["label"])
        if key not in references:
            references[key] = _reference(catalog, info, names, options)
        reference = references[key]
        measures, scored = _measure(catalog, info, reference, names, options)
        drifted, reasons = drift.verdict(measures)
        retrain = drifted and reference.training_data_changed
        path = report.drift_report(
            folder / f"{info['scoring_run_id']}.png", info, measures, drifted, retrain, reasons, options
        )
        _write(catalog, info, measures, drifted, retrain)
        _log_to_mlflow(info["scoring_run_id"], measures, drifted, retrain, path)
        result = RunDrift(
            **{k: info[k] for k in RUN_COLUMNS},
            training_library=reference.training_library,
            scored=scored,
            drifted=drifted,
            training_data_changed=reference.training_data_changed,
            retrain=retrain,
            reasons=reasons,
            report=str(path),
            measures={f"{m.metric}[{m.feature}]": round(m.value, 6) for m in measures},
        )
        summary.runs.append(asdict(result))
        summary.monitored += 1
        summary.drifted |= drifted
        summary.retrain |= retrain
        summary.reasons += [f"{info['scoring_run_id']}: {r}" for r in reasons]
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def _runs_to_monitor(catalog: Catalog, library: str | None, run: str | None) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F

    candidates = catalog.read("candidates")
    if library:
        candidates = candidates.where(F.col("library") == library)
    if run:
        candidates = candidates.where(F.col("scoring_run_id") == run)
    else:
        done = catalog.read("monitoring").select("scoring_run_id").distinct()
        candidates = candidates.join(done, "scoring_run_id", "left_anti")
    runs = (
        candidates.groupBy("scoring_run_id")
        .agg(*[F.first(c).alias(c) for c in RUN_COLUMNS[1:]], F.max("scored_at").alias("scored_at"))
        .orderBy("scored_at")
        .collect()
    )
    if run and not runs:
        raise ValueError(f"no scoring run {run!r} in candidates" + (f" of library {library!r}" if library else ""))
    if library and not runs and not catalog.read("candidates").where(F.col("library") == library).limit(1).count():
        scored = sorted(row["library"] for row in catalog.read("candidates").select("library").distinct().collect())
        raise ValueError(
            f"library {library!r} has no scoring runs in candidates (scored: {', '.join(scored) or 'none'}): "
            f"run `molpipe score --library {library} --model NAME@champion` first"
        )
    return [{c: row[c] for c in RUN_COLUMNS} for row in runs]


def _reference(catalog: Catalog, info: dict[str, Any], names: list[str], options: MonitorOptions) -> Reference:
    import mlflow
    from pyspark.sql import functions as F

    from molpipe.registry.card import ModelCard
    from molpipe.registry.reference import PinnedModel
    from molpipe.score.batch import load_predictor

    card = ModelCard.of(mlflow.MlflowClient().get_model_version(info["model_name"], info["model_version"]))
    training_library = card.library
    splits = catalog.read("splits").where(
        (F.col("library") == training_library) & (F.col("split_id") == info["training_split_id"])
    )
    molecules = catalog.read("molecules").where(F.col("library") == training_library).select("inchikey", "smiles")
    train = splits.where(F.col("split") == "train").select("inchikey").join(molecules, "inchikey")
    descriptors = descriptor_frame(catalog, training_library, train, names).toPandas()
    if descriptors.empty:
        raise ValueError(
            f"model {info['model_name']} v{info['model_version']}: split {info['training_split_id']!r} "
            f"of {training_library!r} has no training molecules any more"
        )
    # InChIKeys are hashes: the first N in their order are a fixed pseudo-random sample
    held_out = (
        splits.where(F.col("split").isin("valid", "test"))
        .select("inchikey")
        .join(molecules, "inchikey")
        .orderBy("inchikey")
        .limit(options.reference_sample)
    )
    predictor = load_predictor(PinnedModel.of(info["model_name"], info["model_version"]))
    values = held_out_predictions(catalog, predictor, training_library, held_out, info["label"])
    return Reference(training_library, descriptors[names], values, training_data_changed(catalog, card.lineage))


def held_out_predictions(catalog: Catalog, predictor, library: str, molecules, label: str) -> np.ndarray:
    """The model's deterministic predictions of ``label`` for ``molecules`` (``inchikey``, ``smiles``), from their
    stored features as scoring reads them (computed where a spec is missing); molecules it fails on are left out."""
    from pyspark.sql import functions as F

    from molpipe.featurize.read import join_features, row_features

    features = catalog.read("features").where(F.col("library") == library)
    rows = join_features(molecules, features, predictor.featurizers, how="left").toPandas().to_dict("records")
    ready = []
    for row in rows:
        try:
            ready.append(predictor.complete(row_features(row, predictor.featurizers)))
        except Exception:  # like scoring: a molecule the model cannot take is no reference, never an error
            continue
    if not ready:
        return np.zeros(0)
    mean, _ = predictor.predict_features(ready, "none")
    values = mean[:, list(predictor.task.labels).index(label)]
    return values[np.isfinite(values)]


def training_data_changed(catalog: Catalog, lineage: dict[str, int]) -> bool:
    """Whether ``molecules`` or ``splits`` have moved past the Delta versions a model's training read."""
    return any(catalog.version(table) > lineage[table] for table in ("molecules", "splits"))


def _measure(catalog: Catalog, info, reference: Reference, names, options: MonitorOptions):
    from pyspark.sql import functions as F

    run = catalog.read("candidates").where(F.col("scoring_run_id") == info["scoring_run_id"])
    current = descriptor_frame(catalog, info["library"], run.select("inchikey", "smiles"), names)
    edges = {n: drift.quantile_edges(reference.descriptors[n].to_numpy(), options.bins) for n in names}
    counts = spark_bin_counts(current, edges)
    measures = []
    for n in names:
        expected = drift.bin_counts(reference.descriptors[n].to_numpy(), edges[n])
        measures.append(_compared("psi", n, expected, counts[n], edges[n], options.psi_threshold, options))

    prediction_edges = drift.quantile_edges(reference.predictions, options.bins)
    stats = run.agg(
        F.count("*").alias("n"),
        F.avg("prediction").alias("mean"),
        F.sum((F.col("ad_similarity") < options.ad_similarity).cast("int")).alias("outside"),
    ).first()
    current_predictions = spark_bin_counts(run, {"prediction": prediction_edges})["prediction"]
    expected = drift.bin_counts(reference.predictions, prediction_edges)
    label = info["label"]
    measures.append(
        _compared(
            "prediction_psi",
            label,
            expected,
            current_predictions,
            prediction_edges,
            options.prediction_psi_threshold,
            options,
        )
    )
    measures.append(
        Measure(
            "prediction_ks",
            label,
            drift.binned_ks(expected, current_predictions),
            None,
            len(reference.predictions),
            int(current_predictions.sum()),
        )
    )
    spread = float(np.std(reference.predictions)) if len(reference.predictions) > 1 else 0.0
    shift = (stats["mean"] - float(np.mean(reference.predictions))) / spread if spread > 0 else float("nan")
    measures.append(Measure("prediction_mean_shift", label, shift, None, len(reference.predictions), stats["n"]))
    ad = spark_bin_counts(run, {"ad_similarity": AD_EDGES})["ad_similarity"]
    enough = stats["n"] >= options.min_molecules
    measures.append(
        Measure(
            "outside_ad_fraction",
            f"ad_similarity<{options.ad_similarity:g}",
            stats["outside"] / stats["n"] if stats["n"] else float("nan"),
            options.max_outside_ad if enough else None,
            0,
            stats["n"],
            current=ad.tolist(),
            edges=AD_EDGES.tolist(),
        )
    )
    return measures, stats["n"]


def _compared(metric, feature, expected, actual, edges, threshold, options: MonitorOptions) -> Measure:
    """A PSI measure; on fewer than ``min_molecules`` a side, reported without a threshold (too noisy to act on)."""
    enough = min(expected.sum(), actual.sum()) >= options.min_molecules
    return Measure(
        metric,
        feature,
        drift.psi(expected, actual),
        threshold if enough else None,
        int(expected.sum()),
        int(actual.sum()),
        expected.tolist(),
        actual.tolist(),
        [float(e) for e in edges],
    )


def spark_bin_counts(df, edges: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per column, counts per bin exactly as :func:`molpipe.monitor.drift.bin_counts` makes them, computed by
    Spark in one pass (a value's bin is how many edges lie strictly below it; missing values last)."""
    from pyspark.sql import functions as F

    def binned(column: str, cuts: np.ndarray):
        value = F.col(column).cast("double")
        index = F.lit(0)
        for cut in cuts:
            index = index + (value > F.lit(float(cut))).cast("int")
        return F.when(value.isNull() | F.isnan(value), F.lit(len(cuts) + 1)).otherwise(index)

    pairs = F.array(*[F.struct(F.lit(c).alias("feature"), binned(c, e).alias("bin")) for c, e in edges.items()])
    rows = df.select(F.explode(pairs).alias("b")).groupBy("b.feature", "b.bin").count().collect()
    counts = {c: np.zeros(len(e) + 2, dtype=np.int64) for c, e in edges.items()}
    for row in rows:
        counts[row["feature"]][row["bin"]] = row["count"]
    return counts


def _write(catalog: Catalog, info: dict[str, Any], measures: list[Measure], drifted: bool, retrain: bool) -> None:
    from pyspark.sql import functions as F

    rows = [
        (m.metric, m.feature, _finite(m.value), m.threshold, m.drifted, m.n_reference, m.n_current) for m in measures
    ] + [("drifted", "", float(drifted), None, drifted, 0, 0), ("retrain", "", float(retrain), None, retrain, 0, 0)]
    frame = catalog.spark.createDataFrame(
        rows,
        "metric STRING, feature STRING, value DOUBLE, threshold DOUBLE, drifted BOOLEAN, n_reference BIGINT, "
        "n_current BIGINT",
    )
    for column in RUN_COLUMNS:
        frame = frame.withColumn(column, F.lit(info[column]).cast("string"))
    frame = frame.withColumn("monitored_at", F.current_timestamp())
    run_id = info["scoring_run_id"].replace("'", "''")
    catalog.delete("monitoring", where=f"scoring_run_id = '{run_id}'")
    catalog.append("monitoring", frame)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _log_to_mlflow(run_id: str, measures: list[Measure], drifted: bool, retrain: bool, report: Path) -> None:
    """The measures as ``drift.*`` metrics of the scoring run's own MLflow run, the report as its artifact."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [
        Metric(f"drift.{m.metric}" + (f".{m.feature}" if m.metric == "psi" else ""), float(m.value), now, 0)
        for m in measures
        if np.isfinite(m.value)
    ] + [Metric("drift.drifted", float(drifted), now, 0), Metric("drift.retrain", float(retrain), now, 0)]
    client = mlflow.MlflowClient()
    client.log_batch(run_id, metrics=metrics)
    client.set_tag(run_id, "molpipe.drift", "retrain" if retrain else "drifted" if drifted else "stable")
    client.log_artifact(run_id, str(report), "drift")
