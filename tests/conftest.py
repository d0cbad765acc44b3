"""Shared fixtures: real molecules from tests/data, one engine per test session, and a fresh Spark session + warehouse
per test.

The engine is embedded Sail, or with ``--engine spark`` (``make test`` runs the ``spark``-marked tests a second time
so) an Apache Spark Connect server with Delta Lake that molpipe itself starts (``local[2]``). A Spark engine that
cannot start fails every test that needs it: it never skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
os.environ.setdefault("RUST_LOG", "error")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def pytest_addoption(parser):
    parser.addoption(
        "--engine",
        choices=("sail", "spark"),
        default="sail",
        help="the engine of the Spark tests: embedded Sail, or Apache Spark + Delta (local[2])",
    )


def pytest_report_header(config):
    return f"molpipe engine: {config.getoption('--engine')}"


@pytest.fixture(scope="session")
def engine_name(request) -> str:
    return request.config.getoption("--engine")


@pytest.fixture(scope="session")
def sail_url():
    """The Spark Connect URL of an embedded Sail server, in this process: the Sail pass's engine, and in both passes
    the engine that builds the setup data of :func:`build_home`'s ``prepare``."""
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    yield f"sc://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def engine_url(engine_name, request, tmp_path_factory):
    """The Spark Connect URL of this test session's engine."""
    if engine_name != "spark":
        yield request.getfixturevalue("sail_url")
        return
    from molpipe.config import load_settings
    from molpipe.runtime.spark_server import start_spark_server

    home = tmp_path_factory.mktemp("spark-server")
    server = start_spark_server(settings=load_settings(environ={}).replace(home=str(home), spark_master="local[2]"))
    yield server.url
    server.stop()


@pytest.fixture
def settings(tmp_path):
    from molpipe.config import load_settings

    return load_settings(environ={}).replace(home=str(tmp_path / "home"), workers=1)


@pytest.fixture
def catalog(engine_url, settings):
    from pyspark.sql import SparkSession

    from molpipe.lake.tables import Catalog

    spark = SparkSession.builder.remote(engine_url).create()
    yield Catalog(spark, settings)
    spark.stop()


@pytest.fixture(scope="session")
def build_home(engine_url, sail_url, tmp_path_factory):
    """``build_home(name, steps, *, prepare=None)``: a molpipe home built once, to copy (never to write to) with
    :func:`copy_home`. ``prepare(catalog)`` runs first, on embedded Sail in both passes, then ``steps(catalog)`` on
    the test session's engine; returns the home folder and what ``steps`` returned. A test that starts from a copy
    skips the engine work of building it (on Apache Spark a featurized library is some 15 to 30 s).

    ``prepare`` is for setup that other tests already check on the engine (ingest and featurize, in
    tests/spark/test_pipeline.py; training, in tests/spark/test_train.py): on Apache Spark it would repeat that
    work, not test anything new. Its tables are read and written by the engine afterwards, which checks too that
    Apache Spark's Delta takes up tables that Sail wrote, as a team moving from a laptop to a cluster would need."""
    from pyspark.sql import SparkSession

    from molpipe.config import load_settings
    from molpipe.lake.tables import Catalog

    def on(url, home, steps):
        spark = SparkSession.builder.remote(url).create()
        try:
            return steps(Catalog(spark, load_settings(environ={}).replace(home=str(home), workers=1)))
        finally:
            spark.stop()

    def build(name, steps=None, *, prepare=None):
        home = tmp_path_factory.mktemp(name) / "home"
        if prepare is not None:
            on(sail_url, home, prepare)
        return home, (on(engine_url, home, steps) if steps is not None else None)

    return build


@pytest.fixture
def copy_home(catalog):
    """``copy_home(home)``: ``catalog`` on a private copy of a home that :func:`build_home` built."""
    import shutil

    def copy(home):
        shutil.copytree(home, catalog.settings.home_path)
        return catalog

    return copy


SCORED_OPTIONS = {"acquisition": "ucb", "mc_samples": 2}  # the options of scored_home's two runs


@pytest.fixture(scope="session")
def scored_home(build_home, data_dir):
    """A molpipe home built once per session, to copy (never to write to): the HIV sample featurized (morgan,
    rdkit2d) and split (30 % of the labeled molecules held out into the pool), an fp-mlp champion ``hiv_mlp`` trained
    on it (all of this on Sail: see :func:`build_home`), and two scoring runs by that champion on the session's
    engine: HIV's own pool and ESOL's molecules (featurized with morgan only). Returns the home folder and the
    scoring summaries by library."""
    from molpipe.config import ScoreOptions
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.registry import lifecycle
    from molpipe.score.job import score
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    def prepare(catalog):
        ingest(catalog, path=data_dir / "hiv_sample.csv", library="hiv", label_cols=["HIV_active"])
        featurize(catalog, library="hiv", featurizers=parse_featurizers("morgan,rdkit2d"), workers=1)
        split(catalog, library="hiv", method="random", pool_fraction=0.3, seed=0)
        config = TrainConfig(model="fp-mlp", model_params={"hidden": 32}, epochs=2, batch_size=32, patience=2)
        train(catalog, TrainRequest("hiv", "hiv_mlp", num_processes=1), config)
        lifecycle.promote("hiv_mlp", force=True)
        ingest(catalog, path=data_dir / "esol_sample.csv", library="esol")
        featurize(catalog, library="esol", featurizers=parse_featurizers("morgan"), workers=1)

    def steps(catalog):  # the scoring runs that the score tests check, on the engine
        options = ScoreOptions(**SCORED_OPTIONS)
        return {
            name: score(catalog, library=name, model="hiv_mlp@champion", options=options) for name in ("hiv", "esol")
        }

    return build_home("scored", steps, prepare=prepare)


@pytest.fixture
def scored(scored_home, copy_home):
    """``catalog`` on a private copy of :func:`scored_home`; returns it and the scoring run ids."""
    home, summaries = scored_home
    return copy_home(home), {name: summary.run_id for name, summary in summaries.items()}


@pytest.fixture(scope="session")
def hiv_scoring(scored_home):
    """The summary of :func:`scored_home`'s scoring run of HIV's pool (``ScoreOptions(**SCORED_OPTIONS)``), for
    tests that check a run without paying for one of their own (some 6 s each on Apache Spark)."""
    return scored_home[1]["hiv"]


@pytest.fixture
def job_engine(engine_name, engine_url, monkeypatch):
    """The molpipe commands a test runs (``execute``, job scripts) use the test session's engine: under
    ``--engine spark`` its Apache Spark server (``MOLPIPE_SPARK_REMOTE``); on Sail they start their own embedded
    Sail, as a job does."""
    monkeypatch.delenv("MOLPIPE_ENGINE", raising=False)
    if engine_name == "spark":
        monkeypatch.setenv("MOLPIPE_SPARK_REMOTE", engine_url)
    else:
        monkeypatch.delenv("MOLPIPE_SPARK_REMOTE", raising=False)


@pytest.fixture
def run_job_script(monkeypatch, capsys):
    """Run ``jobs/<name>.py ARGS`` in this process as a job task would (``__main__``, its argv); returns its exit
    status, its JSON summary (the last line of stdout) and the task values it would publish on Databricks."""
    import json
    import runpy
    import sys

    from molpipe.databricks import task_values

    published = {}
    monkeypatch.setattr(task_values, "publish", lambda summary: published.update(task_values.publishable(summary)))

    def run(name: str, *args: str):
        script = DATA.parent.parent / "jobs" / f"{name}.py"
        monkeypatch.setattr(sys, "argv", [str(script), *args])
        try:  # the status is the caller's to check (0, or the failure a test provokes): no pytest.raises match
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exit_:
            code = exit_.code
        else:
            pytest.fail(f"jobs/{name}.py ended without sys.exit: a job script exits with its status")
        out = capsys.readouterr()
        lines = out.out.strip().splitlines()
        return code, (json.loads(lines[-1]) if lines else None), dict(published), out.err

    return run


@pytest.fixture
def chromium(tmp_path):
    """``chromium(*args, timeout)``: Debian's headless Chromium with the flags the project renders pages with and a
    fresh profile per call; returns the completed process (stdout as text)."""
    import itertools
    import subprocess

    calls = itertools.count()

    def run(*args: str, timeout: float = 60):
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        profile = f"--user-data-dir={tmp_path / f'chromium-profile-{next(calls)}'}"
        command = ["chromium", *flags, profile, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    return run
