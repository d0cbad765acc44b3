"""The registry's pure parts: the validation verdict, the model card's tags, the model reference's names."""

from types import SimpleNamespace

import pytest

from molpipe.config import ValidationOptions, load_settings
from molpipe.models.tasks import Task
from molpipe.registry.card import ModelCard
from molpipe.registry.lifecycle import verdict
from molpipe.registry.reference import ModelRef

CLASSIFY = Task(("HIV_active",), "classification")
REGRESS = Task(("logS",), "regression")
OPTIONS = ValidationOptions(min_roc_auc=0.6, max_rmse=1.5, margin=0.02)


def test_a_challenger_above_the_threshold_and_within_the_margin_passes():
    assert (
        verdict(
            task=CLASSIFY,
            options=OPTIONS,
            challenger={"roc_auc": 0.75},
            champion={"roc_auc": 0.76},
            champion_version="3",
        )
        == []
    )
    assert (
        verdict(task=CLASSIFY, options=OPTIONS, challenger={"roc_auc": 0.75}, champion={}, champion_version=None) == []
    )


def test_each_rule_gives_its_reason():
    below = verdict(task=CLASSIFY, options=OPTIONS, challenger={"roc_auc": 0.55}, champion={}, champion_version=None)
    assert below == ["roc_auc 0.5500 < min_roc_auc 0.6"]
    worse = verdict(
        task=CLASSIFY, options=OPTIONS, challenger={"roc_auc": 0.70}, champion={"roc_auc": 0.80}, champion_version="3"
    )
    assert worse == ["roc_auc 0.7000 is worse than champion v3's 0.8000 by more than the margin 0.02"]
    rmse = verdict(
        task=REGRESS, options=OPTIONS, challenger={"rmse": 1.9}, champion={"rmse": 1.0}, champion_version="1"
    )
    assert rmse[0] == "rmse 1.9000 > max_rmse 1.5" and "worse than champion v1's 1.0000" in rmse[1]
    none = verdict(task=CLASSIFY, options=OPTIONS, challenger={}, champion={"roc_auc": 0.8}, champion_version="1")
    assert none == ["test split has no roc_auc: too few molecules or one class only"]


def test_a_lower_rmse_than_the_champion_is_better_not_worse():
    assert (
        verdict(task=REGRESS, options=OPTIONS, challenger={"rmse": 0.9}, champion={"rmse": 1.2}, champion_version="2")
        == []
    )


def test_the_card_survives_its_tags():
    card = ModelCard(
        run_id="r1",
        model="gnn",
        library="hiv",
        split_id="s1",
        task=CLASSIFY,
        lineage={"molecules": 3, "features": 4, "splits": 2},
        test_metrics={"roc_auc": 0.8125},
    )
    tags = card.tags()
    assert tags["test_roc_auc"] == "0.8125" and tags["library"] == "hiv"
    assert ModelCard.of(SimpleNamespace(name="hiv_gnn", version="1", run_id="r1", tags=tags)) == card


def test_a_version_molpipe_did_not_train_has_no_card():
    with pytest.raises(ValueError, match="hiv_other v2 has no molpipe model card"):
        ModelCard.of(SimpleNamespace(name="hiv_other", version="2", run_id="r", tags={"note": "hand-made"}))


def test_a_bare_name_gets_the_unity_catalog_prefix_on_databricks_only():
    settings = load_settings(environ={}).replace(catalog="main", schema="molpipe")
    ref = ModelRef.parse("hiv_gnn@challenger")
    assert ref.registered(settings=settings, databricks=True) == ModelRef("main.molpipe.hiv_gnn", "challenger")
    assert ref.registered(settings=settings, databricks=False) == ref
    full = ModelRef.parse("prod.chem.hiv_gnn/4")
    assert full.registered(settings=settings, databricks=True) == full and str(full) == "prod.chem.hiv_gnn/4"
    with pytest.raises(ValueError, match="expected NAME@alias"):
        ModelRef.parse("hiv gnn")


def test_a_version_registered_before_the_card_held_its_lineage_takes_it_from_its_run(monkeypatch):
    import mlflow

    run_tags = {
        "molpipe.lineage.molecules": "/h/warehouse/molecules@v7",
        "molpipe.lineage.splits": "/h/splits@v2",
        "mlflow.user": "someone",
    }
    client = SimpleNamespace(get_run=lambda run_id: SimpleNamespace(data=SimpleNamespace(tags=run_tags)))
    monkeypatch.setattr(mlflow, "MlflowClient", lambda: client)
    old = {
        "run_id": "r0",
        "library": "hiv",
        "split_id": "s0",
        "model": "gnn",
        "task": '{"labels": ["HIV_active"], "kind": "classification"}',
        "test_roc_auc": "0.8",
    }
    card = ModelCard.of(SimpleNamespace(name="hiv_gnn", version="1", run_id="r0", tags=old))
    assert card.lineage == {"molecules": 7, "splits": 2} and card.test_metrics == {"roc_auc": 0.8}


def test_a_registry_that_fails_is_its_error_not_a_missing_model(monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException

    def unavailable(self, name, alias):
        raise MlflowException("the registry is down", error_code="TEMPORARILY_UNAVAILABLE")

    monkeypatch.setattr(mlflow.MlflowClient, "get_model_version_by_alias", unavailable)
    with pytest.raises(MlflowException, match="the registry is down"):
        ModelRef.parse("hiv_mlp@champion").resolve()


def test_a_killed_jobs_run_is_ended_by_the_next_job_and_a_live_or_foreign_one_is_not(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    import mlflow

    from molpipe.registry import tracking

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("molpipe-hiv-HIV_active")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    owners = {"killed": f"{gone.stdout.strip()}@{host}", "live": tracking.owners.me(), "foreign": f"1@not-{host}"}
    runs = {
        name: client.create_run(experiment, tags={tracking.OWNER_TAG: owner}).info.run_id
        for name, owner in owners.items()
    }
    monkeypatch.setattr(mlflow, "MlflowClient", lambda: client)  # the store of this test
    assert tracking.end_runs_of_dead_jobs(experiment) == [runs["killed"]]
    assert {name: client.get_run(run).info.status for name, run in runs.items()} == {
        "killed": "KILLED",
        "live": "RUNNING",
        "foreign": "RUNNING",
    }
