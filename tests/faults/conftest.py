"""What the crash and concurrency tests share: a session on the test session's engine, to read the homes they
check."""

import pytest


@pytest.fixture(scope="module")
def spark(engine_url):
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(engine_url).create()
    yield session
    session.stop()
