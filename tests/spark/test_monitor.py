"""molpipe monitor on real scoring output: an HIV-trained model scores its own library's pool (in distribution)
and ESOL's small, simple molecules (out of it); the drift measures, the monitoring table, MLflow and the report."""

import mlflow
import numpy as np
import pytest
from pyspark.sql import functions as F

from molpipe.config import MonitorOptions
from molpipe.monitor.drift import bin_counts, quantile_edges
from molpipe.monitor.job import monitor, spark_bin_counts, training_data_changed

pytestmark = pytest.mark.spark
DESCRIPTORS = "MolWt,MolLogP,TPSA,NumHDonors,NumHAcceptors,NumRotatableBonds,RingCount,FractionCSP3"
OPTIONS = MonitorOptions(bins=5)


def test_drift_of_each_scoring_run_into_the_table_mlflow_and_a_report(scored, tmp_path):
    catalog, runs = scored
    summary = monitor(catalog, options=OPTIONS, out=tmp_path / "reports")
    assert summary.monitored == 2 and [r["library"] for r in summary.runs] == ["hiv", "esol"]
    own, other = summary.runs
    print({r["library"]: r["measures"] for r in summary.runs}, flush=True)
    for run in summary.runs:
        assert run["model_name"] == "hiv_mlp" and run["model_version"] == "1" and run["training_library"] == "hiv"
        assert set(run["measures"]) == {f"psi[{d}]" for d in DESCRIPTORS.split(",")} | {
            "prediction_psi[HIV_active]",
            "prediction_ks[HIV_active]",
            "prediction_mean_shift[HIV_active]",
            "outside_ad_fraction[ad_similarity<0.35]",
        }
    # ESOL is further from the HIV training set than HIV's own pool in every way the monitor looks
    assert other["measures"]["psi[MolWt]"] > own["measures"]["psi[MolWt]"] + 0.3
    assert other["measures"]["psi[TPSA]"] > own["measures"]["psi[TPSA]"]
    out_of_domain = "outside_ad_fraction[ad_similarity<0.35]"
    assert other["measures"][out_of_domain] > 0.8 > own["measures"][out_of_domain]
    # the model read molecules before ESOL was featurized into it: its training data has changed since, so the
    # drifted run calls for a retrain
    assert other["drifted"] and other["training_data_changed"] and other["retrain"]
    assert summary.drifted and summary.retrain
    assert any("psi(MolWt)" in r for r in other["reasons"]) and any("applicability" in r for r in other["reasons"])
    assert other["scored"] == catalog.read("molecules").where(F.col("library") == "esol").count()

    rows = catalog.read("monitoring").toPandas()
    per_run = rows.groupby("scoring_run_id").size().to_dict()
    assert per_run == {runs["hiv"]: 14, runs["esol"]: 14}  # 8 descriptors, 3 prediction measures, AD, 2 verdicts
    esol = rows[rows["scoring_run_id"] == runs["esol"]].set_index(["metric", "feature"])
    assert esol.loc[("retrain", ""), "drifted"] and esol.loc[("drifted", ""), "value"] == 1.0
    assert esol.loc[("psi", "MolWt"), "drifted"] and esol.loc[("psi", "MolWt"), "threshold"] == 0.2
    assert esol.loc[("psi", "MolWt"), "n_current"] == other["scored"]
    assert esol.loc[("psi", "MolWt"), "n_reference"] == catalog.read("splits").where(F.col("split") == "train").count()
    assert np.isnan(esol.loc[("prediction_ks", "HIV_active"), "threshold"])  # reported, never a reason
    hiv = rows[rows["scoring_run_id"] == runs["hiv"]].set_index(["metric", "feature"])
    held_out = hiv.loc[("prediction_psi", "HIV_active")]  # the sample's few valid+test molecules: too few to act on
    assert held_out["n_reference"] < OPTIONS.min_molecules and np.isnan(held_out["threshold"])
    assert not held_out["drifted"]

    client = mlflow.MlflowClient()
    logged = client.get_run(runs["esol"]).data
    assert logged.metrics["drift.psi.MolWt"] == pytest.approx(other["measures"]["psi[MolWt]"], rel=1e-5)
    assert logged.metrics["drift.retrain"] == 1.0 and logged.tags["molpipe.drift"] == "retrain"
    assert [a.path for a in client.list_artifacts(runs["esol"], "drift")] == [f"drift/{runs['esol']}.png"]
    with open(other["report"], "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"

    again = monitor(catalog, options=OPTIONS, out=tmp_path / "reports")
    assert again.monitored == 0 and not again.retrain and not again.drifted  # nothing new
    rerun = monitor(catalog, options=OPTIONS, run=runs["hiv"], out=tmp_path / "reports")
    assert rerun.monitored == 1 and catalog.read("monitoring").count() == len(rows)  # its rows replaced
    with pytest.raises(ValueError, match="no scoring run 'nope'"):
        monitor(catalog, options=OPTIONS, run="nope")


def test_the_monitor_job_entry_point(scored, run_job_script, monkeypatch, job_engine):
    catalog, runs = scored
    for name, value in {
        "MOLPIPE_HOME": str(catalog.settings.home_path),
        "MOLPIPE_WORKERS": "1",
        "MOLPIPE_MONITOR__BINS": "5",
        "MOLPIPE_MONITOR__MAX_OUTSIDE_AD": "1.0",
        "MOLPIPE_MONITOR__PSI_THRESHOLD": "9",
        "MOLPIPE_MONITOR__PREDICTION_PSI_THRESHOLD": "9",
    }.items():
        monkeypatch.setenv(name, value)
    code, summary, published, err = run_job_script("monitor", "--library", "hiv", "--json")
    assert code == 0, err
    assert summary["monitored"] == 1 and summary["runs"][0]["scoring_run_id"] == runs["hiv"]
    assert summary["drifted"] is False and summary["retrain"] is False  # thresholds from the environment
    assert published["retrain"] is False and published["monitored"] == 1  # what the condition task reads


def test_retraining_is_called_for_only_when_the_training_data_has_changed(scored):
    catalog, _ = scored
    read = {table: catalog.version(table) for table in ("molecules", "splits")}
    assert not training_data_changed(catalog, read)  # drift then is for the lab, not for the trainer
    assert training_data_changed(catalog, {**read, "splits": 0})


def test_spark_bins_exactly_like_numpy(catalog):
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=500), 1)  # many values exactly on an edge
    values[::50] = np.nan
    edges = quantile_edges(values, 7)
    frame = catalog.spark.createDataFrame([(None if np.isnan(v) else float(v),) for v in values], "x DOUBLE")
    assert spark_bin_counts(frame, {"x": edges})["x"].tolist() == bin_counts(values, edges).tolist()
