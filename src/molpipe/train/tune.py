"""``molpipe tune``: Optuna over a model's search space and the learning rate, each trial a nested MLflow run;
the best configuration is then trained again with :func:`molpipe.train.job.train` and registered (``challenger``).

The data is materialized once (pinned Delta versions) and every trial trains in-line on it, scored on the
validation split only: the test split stays untouched until the final, registered run reports it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace

from molpipe.lake.tables import Catalog
from molpipe.models import get_model
from molpipe.registry import tracking
from molpipe.runtime import staging
from molpipe.split.read import split_id_of
from molpipe.train.data import materialize, resolve_task
from molpipe.train.job import TrainRequest, TrainSummary, run_name, train
from molpipe.train.loop import TrainConfig, train_rank


@dataclass
class TuneSummary:
    parent_run_id: str
    trials: int
    metric: str
    best_value: float
    best_params: dict
    registered: TrainSummary
    seconds: float

    def describe(self) -> str:
        """What ``molpipe tune`` prints: the search's best trial, then the training it registered."""
        return (
            f"{self.trials} trials (parent run {self.parent_run_id}): best {self.metric} {self.best_value:.4f} "
            f"with {self.best_params}\n" + self.registered.describe()
        )


def tune(catalog: Catalog, request: TrainRequest, base: TrainConfig, *, trials: int) -> TuneSummary:
    """Search ``trials`` hyperparameter sets in nested MLflow runs, then train and register the best one like
    :func:`~molpipe.train.job.train`."""
    import mlflow
    import optuna

    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    started = time.monotonic()
    library, databricks = request.library, catalog.databricks
    task = resolve_task(catalog, library, request.labels, request.task_kind)
    base = base.for_task(task.kind)
    split_id = split_id_of(catalog, library, request.split_id)
    tracking.configure(catalog.settings, databricks)
    experiment = tracking.experiment_id(catalog.settings, library, task.name, databricks)
    kind = get_model(base.model, **base.model_params)
    metric = f"valid_{task.primary_metric}"
    with staging.folder(catalog.settings, "tune") as work:
        data = materialize(catalog, library, task, kind.featurizers(), split_id, work / "data", 1)
        data_dict = {**asdict(data), "task": {"labels": list(task.labels), "kind": task.kind}}
        with mlflow.start_run(
            experiment_id=experiment,
            run_name=f"tune-{run_name(base, split_id)}",
            tags=tracking.run_tags("tuning"),
        ) as parent:
            mlflow.log_params(
                {"model": base.model, "trials": trials, "split_id": split_id, "labels": ",".join(task.labels)}
            )

            def objective(trial: optuna.Trial) -> float:
                params = {**base.model_params, **get_model(base.model, **base.model_params).search_space(trial)}
                lr = trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True)
                config = replace(base, model_params=params, learning_rate=lr)
                out = work / f"trial{trial.number}"
                with mlflow.start_run(
                    experiment_id=experiment,
                    run_name=f"trial-{trial.number}",
                    nested=True,
                    tags=tracking.run_tags("trial"),
                ):
                    mlflow.log_params({**{f"model.{k}": v for k, v in params.items()}, "learning_rate": lr})
                    train_rank(asdict(config), data_dict, str(out))
                    history = json.loads((out / "outcome.json").read_text())["history"]
                    for row in history:
                        mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
                    values = [row[metric] for row in history if metric in row]
                    if not values:
                        raise optuna.TrialPruned(f"no {metric} (validation split too small?)")
                    best = max(values) if task.higher_is_better else min(values)
                    mlflow.log_metric(f"best_{metric}", best)
                shutil.rmtree(out, ignore_errors=True)
                return best

            study = optuna.create_study(
                direction="maximize" if task.higher_is_better else "minimize",
                sampler=optuna.samplers.TPESampler(seed=base.seed),
            )
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study.optimize(objective, n_trials=trials)
            best_params = dict(study.best_params)
            mlflow.log_metric(f"best_{metric}", study.best_value)
            mlflow.log_dict({"best_params": best_params, "best_value": study.best_value}, "best.json")
    learning_rate = best_params.pop("learning_rate")
    best = replace(base, model_params={**base.model_params, **best_params}, learning_rate=learning_rate)
    registered = train(catalog, replace(request, labels=task.labels, task_kind=task.kind, split_id=split_id), best)
    mlflow.MlflowClient().set_model_version_tag(
        registered.model_name, registered.version, "tune_run_id", parent.info.run_id
    )
    return TuneSummary(
        parent.info.run_id,
        trials,
        metric,
        study.best_value,
        {**best_params, "learning_rate": learning_rate},
        registered,
        round(time.monotonic() - started, 1),
    )
