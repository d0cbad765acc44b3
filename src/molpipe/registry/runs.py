"""Comparing training runs in MLflow: a table of runs (model, data, hyperparameters, test metrics, the registry
version they became) and their learning curves, for the run-comparison notebook."""

from __future__ import annotations

import pandas as pd

from molpipe.config import Settings
from molpipe.registry import tracking

PARAMS = ("model", "library", "labels", "task", "split_id", "epochs", "batch_size", "learning_rate", "num_processes")


def molpipe_experiments(settings: Settings, databricks: bool = False) -> list[str]:
    """Ids of the experiments molpipe logs to: the configured one, else every ``molpipe-*`` (locally) or
    ``/Shared/molpipe/*`` (Databricks) experiment."""
    import mlflow

    if settings.experiment:
        found = mlflow.get_experiment_by_name(settings.experiment)
        return [found.experiment_id] if found else []
    prefix = "/Shared/molpipe/" if databricks else "molpipe-"
    return [e.experiment_id for e in mlflow.search_experiments(filter_string=f"name LIKE '{prefix}%'")]


def training_runs(experiment_ids: list[str], max_runs: int = 200) -> pd.DataFrame:
    """Finished training runs, newest first: one row each with its parameters, test metrics, best epoch and the
    registered model version it produced (tuning, trials and scoring runs are left out)."""
    import mlflow

    if not experiment_ids:
        return pd.DataFrame(columns=["run_id", "start_time"])
    runs = mlflow.search_runs(
        experiment_ids, "attributes.status = 'FINISHED'", max_results=max_runs, order_by=["attributes.start_time DESC"]
    )
    if runs.empty or "params.model" not in runs:
        return pd.DataFrame(columns=["run_id", "start_time"])
    kind = runs.get(f"tags.{tracking.KIND_TAG}", pd.Series(index=runs.index, dtype=object))
    trial = runs.get("tags.mlflow.parentRunId", pd.Series(index=runs.index, dtype=object)).notna()
    untagged = kind.isna() & ~trial  # a training run logged before runs carried their kind
    runs = runs[runs["params.model"].notna() & ((kind == "training") | untagged)]
    table = pd.DataFrame({"run_id": runs["run_id"], "start_time": runs["start_time"]})
    for name in PARAMS:
        table[name] = runs.get(f"params.{name}")
    metrics = sorted(c for c in runs.columns if c.startswith("metrics.test_")) + ["metrics.best_epoch"]
    for column in metrics:
        table[column.removeprefix("metrics.")] = runs.get(column)
    table["registered"] = [_registered_as(run_id) for run_id in table["run_id"]]
    return table.reset_index(drop=True)


def _registered_as(run_id: str) -> str | None:
    import mlflow

    versions = mlflow.MlflowClient().search_model_versions(f"run_id = '{run_id}'")
    return ", ".join(f"{v.name} v{v.version}" for v in versions) or None


def metric_histories(run_ids: list[str], metric: str) -> pd.DataFrame:
    """Per-epoch values of ``metric`` (``train_loss``, ``valid_roc_auc``, ...) of each run, long format."""
    import mlflow

    client = mlflow.MlflowClient()
    rows = [(run_id, m.step, m.value) for run_id in run_ids for m in client.get_metric_history(run_id, metric)]
    return pd.DataFrame(rows, columns=["run_id", "epoch", metric])


def comparison_figure(runs: pd.DataFrame, histories: pd.DataFrame, test_metric: str, curve_metric: str):
    """Test metric per run (labelled by model and registry version) and the runs' learning curves."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    labels = [f"{r.model} {r.registered or r.run_id[:8]}" for r in runs.itertuples()]
    left.barh(labels, runs[test_metric].astype(float), color="tab:blue")
    left.set_xlabel(test_metric)
    left.invert_yaxis()
    for run_id, curve in histories.groupby("run_id", sort=False):
        name = runs.loc[runs["run_id"] == run_id, "model"].iloc[0]
        right.plot(curve["epoch"], curve[curve_metric], marker="o", label=f"{name} {run_id[:8]}")
    right.set_xlabel("epoch")
    right.set_ylabel(curve_metric)
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig
