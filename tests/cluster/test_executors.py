"""The path Databricks takes, on a local Apache Spark cluster of two executor processes (``local-cluster[2,1,1536]``,
Delta Lake, Spark Connect): featurize's and score's UDFs run in the executors' Python workers (one UDF worker each,
``udf_workers = 1``, their input spread over the two task slots), and DDP training runs one rank per executor
(``TorchDistributor(local_mode=False)``). Each result is compared with the same job on embedded Sail."""

import os
import shutil

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from molpipe.config import ScoreOptions, SparkServerOptions, load_settings
from molpipe.featurize import parse_featurizers
from molpipe.featurize.job import featurize
from molpipe.ingest.job import ingest
from molpipe.lake.tables import Catalog
from molpipe.registry import lifecycle
from molpipe.score.job import score
from molpipe.split.job import split
from molpipe.train.job import TrainRequest, train
from molpipe.train.loop import TrainConfig

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # the cluster and the home built on it: some 3 minutes
FEATURIZERS = "morgan,rdkit2d"  # what fp-mlp reads
EXACT = ScoreOptions(acquisition="greedy", uncertainty="none")  # deterministic per molecule, whatever the batches


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Spark Connect server on a two-executor cluster, started by molpipe as ``MOLPIPE_ENGINE=spark`` would."""
    from molpipe.runtime.spark_server import start_spark_server

    home = tmp_path_factory.mktemp("cluster")
    settings = load_settings(environ={}).replace(home=str(home), engine="spark", spark_master="local-cluster[2,1,1536]")
    server = start_spark_server(settings=settings)
    assert server.slots == 2
    yield server
    server.stop()


def _catalog(server, home) -> Catalog:
    spark = SparkSession.builder.remote(server.url).create()
    return Catalog(spark, load_settings(environ={}).replace(home=str(home), workers=1), udf_partitions=server.slots)


def _ingest(catalog, data_dir):
    ingest(catalog, path=data_dir / "hiv_sample.csv", library="hiv", label_cols=["HIV_active"])


def _featurize_and_split(catalog):
    summary = featurize(catalog, library="hiv", featurizers=parse_featurizers(FEATURIZERS), workers=1)
    split(catalog, library="hiv", method="random", pool_fraction=0.3, seed=0)
    return summary


def _rows(catalog, table, *columns):
    """The rows, sorted, with NaN (a descriptor RDKit cannot compute) made comparable."""

    def comparable(value):
        return tuple("NaN" if v != v else v for v in value) if isinstance(value, list) else value

    return sorted(tuple(map(comparable, r)) for r in catalog.read(table).select(*columns).collect())


@pytest.fixture(scope="module")
def cluster_home(cluster, build_home, data_dir):
    """The HIV sample ingested (on Sail, as :func:`build_home`'s ``prepare``: ingest runs no UDF, and the Spark pass
    checks it on Apache Spark; on the cluster it cost some 27 s), then featurized and split on the cluster, and an
    fp-mlp trained there with one DDP rank per executor and promoted; returns the home, the featurize summary and the
    train summary."""
    home, _ = build_home("on-cluster", prepare=lambda catalog: _ingest(catalog, data_dir))
    catalog = _catalog(cluster, home)
    try:
        featurized = _featurize_and_split(catalog)
        config = TrainConfig(model="fp-mlp", model_params={"hidden": 32}, epochs=2, batch_size=32, patience=2)
        trained = train(catalog, TrainRequest("hiv", "hiv_mlp", num_processes=2, placement="executors"), config)
        lifecycle.promote("hiv_mlp", force=True)
    finally:
        catalog.spark.stop()
    return home, featurized, trained


def test_the_cluster_runs_tasks_in_two_executor_processes(cluster):
    spark = SparkSession.builder.remote(cluster.url).create()
    try:

        def where(batches):
            import pandas as pd

            for _ in batches:
                yield pd.DataFrame({"pid": [os.getpid()], "executor": [os.environ.get("SPARK_EXECUTOR_ID", "")]})

        rows = spark.range(0, 4, 1, 2).mapInPandas(where, "pid LONG, executor STRING").collect()
        java_options = {spark.conf.get(f"spark.{jvm}.extraJavaOptions") for jvm in ("driver", "executor")}
        idle_limit = spark.conf.get("spark.connect.session.manager.defaultSessionTimeout")
    finally:
        spark.stop()
    assert len({r["pid"] for r in rows}) == 2 and os.getpid() not in {r["pid"] for r in rows}
    # the JIT's thresholds on every JVM of the cluster (after the module flags Spark adds)
    assert all(options.endswith(SparkServerOptions().java_options) for options in java_options)
    assert idle_limit == "-1"  # a session idle while its job trains is kept (Spark drops it after 60 minutes)


def test_featurize_on_executors_matches_sail(cluster_home, catalog, data_dir):
    home, on_cluster, _ = cluster_home
    _ingest(catalog, data_dir)
    on_sail = _featurize_and_split(catalog)
    assert on_cluster.accounted and on_sail.accounted
    counts = ("rows_read", "molecules_new", "duplicates", "quarantined", "quarantine_reasons", "features_computed")
    assert {k: getattr(on_cluster, k) for k in counts} == {k: getattr(on_sail, k) for k in counts}
    cluster_catalog = Catalog(catalog.spark, catalog.settings.replace(home=str(home)))
    for table, columns in {
        "molecules": ("inchikey", "smiles", "scaffold"),
        "quarantine": ("source_row", "reason"),
        "features": ("inchikey", "spec", "values"),
    }.items():
        assert _rows(cluster_catalog, table, *columns) == _rows(catalog, table, *columns), table


def test_training_runs_one_rank_per_executor_with_identical_weights(cluster_home):
    _, _, trained = cluster_home
    assert trained.placement == "executors" and trained.num_processes == 2
    pids = {rank["pid"] for rank in trained.ranks}
    assert [rank["rank"] for rank in trained.ranks] == [0, 1]
    assert len(pids) == 2 and os.getpid() not in pids  # two processes, neither of them the driver
    assert trained.weights_identical_across_ranks
    assert 0.0 <= trained.test_metrics["roc_auc"] <= 1.0


def test_scoring_on_executors_matches_sail(cluster, cluster_home, catalog, tmp_path):
    home, _, _ = cluster_home
    on_cluster = _catalog(cluster, tmp_path / "cluster-copy")
    shutil.copytree(home, on_cluster.settings.home_path)
    try:
        cluster_run = score(on_cluster, library="hiv", model="hiv_mlp@champion", options=EXACT).run_id
        predicted = _candidates(on_cluster, cluster_run)
    finally:
        on_cluster.spark.stop()
    on_sail = Catalog(catalog.spark, catalog.settings.replace(home=str(tmp_path / "sail-copy")))
    shutil.copytree(home, on_sail.settings.home_path)
    sail_run = score(on_sail, library="hiv", model="hiv_mlp@champion", options=EXACT).run_id
    expected = _candidates(on_sail, sail_run)
    assert len(predicted) == len(expected) > 0
    assert [k for k, _ in predicted] == [k for k, _ in expected]
    assert [p for _, p in predicted] == pytest.approx([p for _, p in expected], abs=1e-5)


def _candidates(catalog, run_id):
    rows = catalog.read("candidates").where(F.col("scoring_run_id") == run_id).select("inchikey", "prediction")
    return sorted((r["inchikey"], r["prediction"]) for r in rows.collect())
