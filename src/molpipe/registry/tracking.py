"""MLflow wiring: a local sqlite tracking + registry store under $MOLPIPE_HOME, or the Databricks workspace with
the Unity Catalog registry. One experiment per library and task; artifacts pinned under $MOLPIPE_HOME locally
(never ./mlruns of whatever directory a job happens to run in)."""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import quote

from molpipe.config import Settings
from molpipe.runtime import owners

# the registry aliases: what serving and scoring use by default, and what training registers for validation
CHAMPION, CHALLENGER = "champion", "challenger"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # job logs, not terminals


def tracking_uri(settings: Settings) -> str:
    return f"sqlite:///{settings.home_path / 'mlflow.db'}"


def configure(settings: Settings, databricks: bool = False) -> None:
    import mlflow

    # molpipe reports what it did itself; MLflow's INFO lines (database migrations, "validating input example")
    # and its advice on cloudpickle would bury that in every job log (its advice on type hints is dropped where the
    # pyfunc class is defined, molpipe.registry.pyfunc)
    logging.getLogger("mlflow").setLevel(logging.ERROR)

    if databricks:
        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri("databricks-uc")
    else:
        settings.home_path.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(tracking_uri(settings))
        mlflow.set_registry_uri(tracking_uri(settings))


# MLflow's UI opens an experiment by its kind: without one it guesses GenAI and shows "Traces", not the runs table
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
KIND_TAG = "molpipe.kind"  # each run's: training, tuning, trial, pretraining or scoring
OWNER_TAG = "molpipe.owner"  # each run's job process, <pid>@<host>: a killed job's run is ended by the next job


def run_tags(kind: str) -> dict[str, str]:
    """The tags every molpipe run starts with: its kind, and the process whose death would leave it RUNNING."""
    return {KIND_TAG: kind, OWNER_TAG: owners.me()}


def end_runs_of_dead_jobs(experiment_id: str) -> list[str]:
    """Mark KILLED the experiment's runs still RUNNING whose job process is gone (a SIGKILL ends no run), so that
    the runs table shows what happened to them; returns their ids. Runs of other hosts' jobs are left alone."""
    import mlflow

    client = mlflow.MlflowClient()
    stale = [
        run.info.run_id
        for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
        if owners.gone(run.data.tags.get(OWNER_TAG, ""))
    ]
    for run_id in stale:
        client.set_tag(run_id, "molpipe.ended", "KILLED: its job's process was gone when a later job started")
        client.set_terminated(run_id, status="KILLED")
    return stale


def experiment_id(settings: Settings, library: str, task_name: str, databricks: bool = False) -> str:
    """The experiment of a library's training (and tuning) runs for one task."""
    if settings.experiment:  # the bundle's experiment (MOLPIPE_EXPERIMENT), whatever the library and task
        name = settings.experiment
    else:
        name = f"/Shared/molpipe/{library}-{task_name}" if databricks else f"molpipe-{library}-{task_name}"
    return _experiment(settings, name, databricks)


def scoring_experiment_id(settings: Settings, training_experiment_id: str, databricks: bool = False) -> str:
    """The experiment of the scoring runs of the models trained in ``training_experiment_id``: beside it, named
    ``<its name>-scoring``, so that the runs table a person compares models in holds training runs only."""
    import mlflow

    return _experiment(settings, f"{mlflow.get_experiment(training_experiment_id).name}-scoring", databricks)


def _experiment(settings: Settings, name: str, databricks: bool) -> str:
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is None:
        location = None if databricks else (settings.home_path / "mlartifacts" / _safe(name)).as_uri()
        return mlflow.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
    client = mlflow.MlflowClient()
    for key, value in EXPERIMENT_TAGS.items():  # an experiment made before molpipe tagged them
        if existing.tags.get(key) != value:
            client.set_experiment_tag(existing.experiment_id, key, value)
    end_runs_of_dead_jobs(existing.experiment_id)  # every job asks for its experiment here before its run starts
    return existing.experiment_id


def ui_link(*, experiment_id: str, sort_metric: str, ascending: bool, port: int = 5000) -> str:
    """The local MLflow UI's page of an experiment's runs, sorted by ``sort_metric``. MLflow 3's UI chooses between
    its GenAI and model-training views per browser, GenAI by default whatever the experiment's kind: the link asks
    for the model-training one."""
    order = quote(f"metrics.`{sort_metric}`")
    return (
        f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
        f"&orderByKey={order}&orderByAsc={str(ascending).lower()}"
    )


def registered_name(settings: Settings, name: str, databricks: bool = False) -> str:
    """Registry name of a model: ``catalog.schema.name`` in Unity Catalog, ``name`` locally."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"model name {name!r}: use letters, digits, '_' and '-'")
    return f"{settings.catalog}.{settings.schema}.{name}" if databricks else name


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
