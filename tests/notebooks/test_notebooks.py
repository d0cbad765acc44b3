"""Each notebook in notebooks/ runs top to bottom on the test session's engine, on a home with a featurized and split
HIV sample, a trained and promoted model, two scoring runs, a lab batch and a drift measurement."""

from pathlib import Path

import pandas as pd
import pytest

from molpipe.config import MonitorOptions, SelectOptions
from molpipe.lab.select import select
from molpipe.monitor.job import monitor

from .runner import cells, run_notebook

pytestmark = pytest.mark.spark
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def home(scored, monkeypatch):
    catalog, runs = scored
    monkeypatch.setenv("MOLPIPE_HOME", str(catalog.settings.home_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for name in ("MOLPIPE_CATALOG", "MOLPIPE_SCHEMA", "MOLPIPE_EXPERIMENT", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return catalog, runs


def frames(run):
    return [d for d in run.displayed if isinstance(d, pd.DataFrame)]


def test_every_notebook_is_in_databricks_source_format():
    notebooks = sorted(p.name for p in NOTEBOOKS.glob("*.py"))
    assert notebooks == ["candidates.py", "compare_runs.py", "explore_library.py"]
    for name in notebooks:
        kinds = [
            c.splitlines()[0].split()[2] if c.startswith("# MAGIC") else "python"
            for c in cells((NOTEBOOKS / name).read_text())
        ]
        assert kinds[0] == "%md" and "python" in kinds, name  # a title, then code


def test_explore_library(home):
    catalog, _ = home
    run = run_notebook(NOTEBOOKS / "explore_library.py", catalog.spark)
    summary, reasons, described, scaffolds = frames(run)
    facts = dict(zip(summary["what"], summary["value"]))
    assert facts["molecules"] == catalog.read("molecules").where("library = 'hiv'").count()
    assert facts["labeled: HIV_active"] == facts["molecules"] and facts["quarantined rows"] == reasons["rows"].sum() > 0
    assert {"MolWt", "qed"} <= set(described.index) and described.loc["MolWt", "count"] == facts["molecules"]
    assert len(scaffolds) == 20 and scaffolds["molecules"].is_monotonic_decreasing and "mean_HIV_active" in scaffolds
    assert "sql" in run.cells and sum(1 for d in run.displayed if hasattr(d, "savefig")) == 1
    assert any(type(d).__module__.startswith("PIL") for d in run.displayed)  # the scaffold grid


def test_compare_runs(home):
    catalog, _ = home
    run = run_notebook(NOTEBOOKS / "compare_runs.py", catalog.spark)
    runs, best = frames(run)
    assert len(runs) == 1 and runs.loc[0, "model"] == "fp-mlp" and runs.loc[0, "registered"] == "hiv_mlp v1"
    assert 0 <= runs.loc[0, "test_roc_auc"] <= 1 and list(best["run_id"]) == list(runs["run_id"])
    assert len(run.namespace["histories"]) == 2  # two epochs of valid_roc_auc


def test_candidates(home, tmp_path):
    catalog, runs = home
    select(catalog, run_id=runs["hiv"], options=SelectOptions(k=5, diversity="none"), out_dir=str(tmp_path / "batch"))
    monitor(catalog, options=MonitorOptions(bins=5), library="hiv", out=tmp_path / "reports")
    run = run_notebook(NOTEBOOKS / "candidates.py", catalog.spark)
    every, top, scaffolds, batch, drift = frames(run)
    assert set(every["scoring_run_id"]) == set(runs.values())
    assert run.namespace["run_id"] == runs["hiv"]  # the library's latest run, as no run was given
    assert list(top["rank"]) == list(range(1, len(top) + 1)) and 0 < len(top) <= 25
    assert 0 < len(scaffolds) <= 20 and scaffolds["molecules"].is_monotonic_decreasing
    assert scaffolds["molecules"].sum() <= min(100, len(run.namespace["run"]))
    assert len(batch) == 5 and "measured" not in batch  # no lab results yet
    assert set(drift["metric"]) >= {"psi", "prediction_psi", "outside_ad_fraction", "retrain"}
    # a run given in the widget is the one shown
    other = run_notebook(NOTEBOOKS / "candidates.py", catalog.spark, {"run": runs["esol"], "library": "esol"})
    _, top, _, batch, drift = frames(other)
    assert other.namespace["run_id"] == runs["esol"] and 0 < len(top) <= 25
    assert batch.empty and drift.empty  # nothing selected from this run or measured for it yet
