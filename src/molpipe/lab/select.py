"""``molpipe select``: a scoring run's candidates -> the batch for the lab (CSV + HTML report, ``selections``).

The candidates are ranked by the run's own acquisition score, or re-scored with another ``--strategy`` from their
stored prediction and uncertainty (with the run's incumbent, beta, xi and seed from its MLflow parameters). They
are then filtered by a profile (:mod:`molpipe.chem.filters`: the run's stored alerts and properties, judged again
only where the profile needs what the run did not match), and the best ``k * oversample`` that pass go to the
diversity step (:mod:`molpipe.lab.diversity`), which picks ``k``. The report explains each pick against its nearest
labelled training molecules.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molpipe.chem.filters import CUSTOM, PROFILES, CustomAlerts, Profile, Screen, profile
from molpipe.config import SelectOptions, env_name
from molpipe.featurize.domain import TrainingIndex, on_bits
from molpipe.lab.diversity import check_pick, pick
from molpipe.lab.report import ReportContext, write_batch
from molpipe.lake.tables import Catalog
from molpipe.score.acquisition import ACQUISITIONS, Acquirer, AcquisitionContext
from molpipe.score.batch import FILTER_SCHEMA, filter_values
from molpipe.split.read import training_set

MAP_SAMPLE = 2000  # training and pool molecules drawn on the report's chemical-space map, each


@dataclass
class SelectSummary:
    batch_id: str
    run_id: str
    library: str
    strategy: str
    diversity: str
    k: int
    selected: int
    filters: str = "none"
    considered: int = 0  # candidates looked at, in rank order, to find the k * oversample that pass the filters
    exclusions: dict[str, int] = field(default_factory=dict)  # reason -> candidates excluded for it, most first
    files: dict[str, str] = field(default_factory=dict)
    batch: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """What ``molpipe select`` prints: the batch, what the filters excluded, and the files the lab gets."""
        reasons = ", ".join(f"{reason} {count}" for reason, count in list(self.exclusions.items())[:8])
        return (
            f"batch {self.batch_id}: {self.selected} molecules by {self.strategy} ({self.diversity} diversity, "
            f"{self.filters} filters)\n"
            f"  {self.considered} best candidates considered; exclusions by reason: {reasons or 'none'}\n"
            f"  {self.files['csv']}\n  {self.files['html']}"
        )


def select(
    catalog: Catalog,
    *,
    run_id: str,
    options: SelectOptions,
    out_dir: str | Path,
    strategy: str | None = None,
    filters: str | None = None,
) -> SelectSummary:
    """Pick the lab batch of ``options.k`` molecules from scoring run ``run_id``: filtered by ``filters`` (a profile
    name, or a CSV of named SMARTS added to the configured profile; default: the configured profile), diverse by
    ``options.diversity``; record it in ``selections`` and write its CSV and HTML report to ``out_dir``."""
    import mlflow
    from pyspark.sql import functions as F

    from molpipe.registry import tracking
    from molpipe.registry.card import ModelCard

    check_pick(
        k=options.k, method=options.diversity, similarity=options.similarity, max_per_scaffold=options.max_per_scaffold
    )
    if options.oversample < 1:
        raise ValueError(
            f"config: select.oversample={options.oversample} must be at least 1 ({env_name('select.oversample')})"
        )
    if strategy:
        ACQUISITIONS.get(strategy)  # an unknown --strategy fails here, not in the rescoring UDF
    run = catalog.read("candidates").where(F.col("scoring_run_id") == run_id)
    meta = run.select("library", "acquisition", "label", "model_name", "model_version").first()
    if meta is None:
        raise ValueError(
            f"no scoring run {run_id!r} in candidates: see `molpipe sql 'SELECT DISTINCT scoring_run_id "
            "FROM candidates'`"
        )
    chosen = _profile(filters or catalog.settings.filters.profile, default=catalog.settings.filters.profile)
    tracking.configure(catalog.settings, catalog.databricks)
    params = mlflow.get_run(run_id).data.params
    strategy = strategy or meta["acquisition"]
    if strategy == meta["acquisition"]:
        ranked = run.orderBy("rank")
    else:
        context = AcquisitionContext(
            float(params["incumbent"]), float(params["beta"]), float(params["xi"]), int(params["seed"])
        )
        acquirer = Acquirer(strategy, context, params["direction"] == "maximize")
        ranked = _rescore(run.drop("acquisition_score"), acquirer).orderBy(F.desc("acquisition_score"), "inchikey")
    matched = tuple(name for name in params.get("filter_alerts", "").split(",") if name)
    eligible, considered, exclusions = _passing(ranked, options.k * max(1, options.oversample), chosen, matched)
    if eligible.empty:
        reasons = ", ".join(f"{reason} {count}" for reason, count in list(exclusions.items())[:5])
        raise ValueError(
            f"none of the {considered} candidates of run {run_id} passes the {chosen.name} filters ({reasons}): "
            "choose another --filters profile (none: no filter)"
        )
    batch = pick(
        eligible.reset_index(drop=True),
        k=options.k,
        method=options.diversity,
        similarity=options.similarity,
        max_per_scaffold=options.max_per_scaffold,
    ).reset_index(drop=True)
    batch.insert(0, "position", range(1, len(batch) + 1))
    batch["uncertainty"] = batch["uncertainty"].astype(object).where(batch["uncertainty"].notna(), None)
    batch_id = f"{run_id[:8]}-{strategy}-{uuid.uuid4().hex[:6]}"
    labels = {"batch_id": batch_id, "scoring_run_id": run_id, "library": meta["library"], "strategy": strategy}
    _record(catalog, batch, {**labels, "diversity": options.diversity, "filters": chosen.name})
    card = ModelCard.of(mlflow.MlflowClient().get_model_version(meta["model_name"], meta["model_version"]))
    training = training_set(catalog, library=card.library, split_id=card.split_id, label=meta["label"]).toPandas()
    context = ReportContext(
        label=meta["label"],
        units="probability of active" if card.task.kind == "classification" else f"{meta['label']} (label units)",
        profile=chosen.name,
        profile_description=chosen.description,
        considered=considered,
        exclusions=exclusions,
        neighbours=_neighbours(batch, training),
        training_smiles=_sample(training["smiles"].tolist()),
        pool_smiles=_pool_sample(run),
        diversity=_diversity_text(options),
    )
    title = (
        f"Lab batch {batch_id}: {len(batch)} of {meta['library']} by {strategy} ({options.diversity} diversity, "
        f"{chosen.name} filters), {meta['model_name']} v{meta['model_version']}"
    )
    files = write_batch(batch, Path(out_dir), batch_id=batch_id, title=title, context=context)
    columns = ["position", "inchikey", "smiles", "prediction", "uncertainty", "acquisition_score", "alerts"]
    records = batch[columns].assign(alerts=batch["alerts"].map(list)).to_dict("records")
    return SelectSummary(
        batch_id=batch_id,
        run_id=run_id,
        library=meta["library"],
        strategy=strategy,
        diversity=options.diversity,
        k=options.k,
        selected=len(batch),
        filters=chosen.name,
        considered=considered,
        exclusions=exclusions,
        files=files,
        batch=records,
    )


def _profile(spec: str, *, default: str) -> Profile:
    """A profile by name, or a SMARTS file's alerts added to the configured profile."""
    if spec in PROFILES:
        return profile(spec)
    if Path(spec).suffix or "/" in spec:
        return profile(default, custom=CustomAlerts.read(spec))
    return profile(spec)  # the error names the profiles


def _passing(ranked, n: int, chosen: Profile, matched: tuple[str, ...]) -> tuple[pd.DataFrame, int, dict[str, int]]:
    """The best ``n`` candidates of ``ranked`` that pass ``chosen``, how many were looked at to find them, and the
    exclusions among those by reason (most frequent first). Read in growing pages, so a run of millions is not
    collected whole."""
    page = max(4 * n, 1000)
    while True:
        frame = _judged(ranked.limit(page).toPandas(), chosen, matched)
        passing = np.flatnonzero(frame["passes_filters"].to_numpy(dtype=bool))
        if len(passing) >= n or len(frame) < page:
            break
        page *= 4
    considered = int(passing[n - 1]) + 1 if len(passing) >= n else len(frame)
    counts = Counter(reason for reasons in frame["filter_reasons"][:considered] for reason in reasons)
    return frame.iloc[passing[:n]], considered, dict(counts.most_common())


def _judged(frame: pd.DataFrame, chosen: Profile, matched: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with its filter columns as ``chosen`` judges them: from the alerts and properties the run stored,
    or, where the profile needs alerts the run did not match (a user's SMARTS, a set the run left out) or the run
    stored none (scored before molpipe measured them), from the molecule parsed and matched again."""
    from rdkit import Chem

    rematch = chosen.custom is not None or not {f for f in chosen.alerts if f != CUSTOM} <= set(matched)
    screen = Screen.judging(chosen, families=matched)
    rows = []
    for row in frame.to_dict("records"):
        if not rematch and row["alerts"] is not None:
            row["alerts"] = list(row["alerts"])
            row["filter_reasons"] = chosen.reasons(alerts=row["alerts"], properties=row)
        elif (mol := Chem.MolFromSmiles(row["smiles"])) is None:
            row["filter_reasons"] = ["unparsable"]
        else:
            row.update(zip(FILTER_SCHEMA.names, filter_values(screen(mol))))
        row["passes_filters"] = not row["filter_reasons"]
        rows.append(row)
    return pd.DataFrame(rows, columns=frame.columns)


def _neighbours(batch: pd.DataFrame, training: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """Each pick's ``k`` most similar training molecules (Tanimoto on the domain's Morgan bits) with their labels."""
    index = TrainingIndex.from_smiles(training["smiles"])
    ids, similarity = index.nearest([on_bits(s) for s in batch["smiles"]], k)
    rows = []
    for pick_row, (near, values) in enumerate(zip(ids, similarity)):
        for order, (i, value) in enumerate(zip(near, values), start=1):
            neighbour = training.iloc[int(i)]
            rows.append(
                {
                    "inchikey": batch["inchikey"].iloc[pick_row],
                    "neighbour": order,
                    "smiles": neighbour["smiles"],
                    "value": float(neighbour["value"]),
                    "similarity": float(value),
                }
            )
    return pd.DataFrame(rows, columns=["inchikey", "neighbour", "smiles", "value", "similarity"])


def _sample(smiles: list[str]) -> list[str]:
    """At most :data:`MAP_SAMPLE`, the same ones every time."""
    if len(smiles) <= MAP_SAMPLE:
        return smiles
    return pd.Series(smiles).sample(MAP_SAMPLE, random_state=0).tolist()


def _pool_sample(run) -> list[str]:
    from pyspark.sql import functions as F

    rows = run.select("smiles").orderBy(F.xxhash64("inchikey")).limit(MAP_SAMPLE).collect()
    return [row["smiles"] for row in rows]


def _diversity_text(options: SelectOptions) -> str:
    text = {
        "sphere": f"sphere exclusion in rank order (a candidate with Tanimoto >= {options.similarity:g} to a better "
        "pick is skipped)",
        "butina": f"the best of each Butina cluster (Tanimoto {options.similarity:g})",
        "maxmin": "MaxMin on Morgan bits",
        "scaffold": "round-robin over Murcko scaffolds",
        "none": "the top candidates",
    }[options.diversity]
    cap = f", at most {options.max_per_scaffold} per scaffold" if options.max_per_scaffold > 0 else ""
    return text + cap


def _record(catalog: Catalog, batch: pd.DataFrame, labels: dict[str, str]) -> None:
    """The batch into ``selections``."""
    from pyspark.sql import functions as F

    rows = catalog.spark.createDataFrame(
        batch[["inchikey", "smiles", "position", "prediction", "uncertainty", "acquisition_score"]]
    ).select(
        *(F.lit(value).alias(name) for name, value in labels.items()),
        "inchikey",
        "smiles",
        F.col("position").cast("int"),
        "prediction",
        "uncertainty",
        "acquisition_score",
        F.current_timestamp().alias("selected_at"),
    )
    catalog.append("selections", rows)


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
