"""Shared fixtures: real molecules from tests/data, one embedded Sail server per test session, and a fresh Spark
session + warehouse per test (tables are registered by bare name, so tests must not share a session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
os.environ.setdefault("RUST_LOG", "error")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def sail_url():
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    yield f"sc://{host}:{port}"
    server.stop()


@pytest.fixture
def settings(tmp_path):
    from molpipe.config import load_settings

    return load_settings(environ={}).replace(home=str(tmp_path / "home"), workers=1)


@pytest.fixture
def catalog(sail_url, settings):
    from pyspark.sql import SparkSession

    from molpipe.tables import Catalog

    spark = SparkSession.builder.remote(sail_url).create()
    yield Catalog(spark, settings)
    spark.stop()
