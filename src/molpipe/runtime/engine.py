"""The Spark Connect session molpipe runs on: ``MOLPIPE_SPARK_REMOTE``, the Databricks runtime's session, an
Apache Spark server molpipe starts (``MOLPIPE_ENGINE=spark``) or embedded Sail (the default). One API on all of them:
Spark Connect only. Which engine for what, and how they differ: docs/engines.md.

Sail runs every Python UDF in the one interpreter that hosts it, so :attr:`Engine.udf_workers` says how many worker
processes a UDF fans its batches out to (every core under Sail; one, in-line, where the engine already runs UDFs
in parallel Python workers).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from molpipe.config import Settings, env_name
from molpipe.lake.tables import Catalog


@dataclass
class Engine:
    spark: Any  # pyspark.sql.SparkSession (Spark Connect)
    kind: str  # "embedded" (Sail) | "spark" (Apache Spark, started here) | "remote" | "databricks"
    udf_workers: int
    udf_partitions: int = 0  # task slots of a Spark server molpipe started (see Catalog.spread); 0 elsewhere
    startup_s: float = 0.0  # how long the engine took to start (0 for one that was already running)
    _server: Any = field(default=None, repr=False)

    def stop(self) -> None:
        from molpipe.runtime.parallel import shutdown_pools

        shutdown_pools()
        if self._server is not None or self.kind == "remote":
            # a remote server outlives its clients, but a session left open makes pyspark's exit hook call it: once
            # that server is gone, the process retries for minutes before it ends
            self.spark.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None


def is_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def udf_workers(settings: Settings) -> int:
    """:attr:`Engine.udf_workers` of the engine ``settings`` select, known before it starts: ``settings.workers``
    if set, else every core for an embedded Sail and one (in-line) for a remote or Databricks engine."""
    if settings.workers < 0:
        raise ValueError(
            f"config: workers={settings.workers} must be 0 (auto) or more (--workers, {env_name('workers')})"
        )
    if settings.workers:
        return settings.workers
    embedded = not (settings.spark_remote or is_databricks()) and engine_name(settings) == "sail"
    return os.cpu_count() or 1 if embedded else 1


ENGINES = ("sail", "spark")
SESSION_IDLE_LIMIT_S = 30 * 24 * 3600  # embedded Sail: how long its session may go without a query


def engine_name(settings: Settings) -> str:
    """``settings.engine``, checked."""
    if settings.engine not in ENGINES:
        raise ValueError(f"config: engine={settings.engine!r} is not one of {', '.join(ENGINES)} (MOLPIPE_ENGINE)")
    return settings.engine


def start_engine(settings: Settings, partitions: int = 0, memory_mb: int = 0) -> Engine:
    """The session. For an embedded Sail: ``partitions`` > 0 sets its partitions per query (default: one per core);
    ``memory_mb`` > 0 bounds its memory pool, beyond which sorts spill to disk (a hash join's table cannot spill:
    a query whose join needs more fails, saying so; default: unbounded)."""
    from pyspark.sql import SparkSession

    workers = udf_workers(settings)  # a bad setting fails before a server starts that nothing would stop
    if settings.spark_remote:
        _check_remote(settings.spark_remote)
        spark = SparkSession.builder.remote(settings.spark_remote).create()  # its own session, stopped with it
        return Engine(spark, "remote", workers)
    if is_databricks():
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        return Engine(spark, "databricks", workers)
    if engine_name(settings) == "spark":
        from molpipe.runtime.spark_server import start_spark_server

        server = start_spark_server(settings=settings)
        try:
            spark = SparkSession.builder.remote(server.url).getOrCreate()
        except BaseException:
            server.stop()
            raise
        return Engine(spark, "spark", workers, server.slots, server.startup_s, server)
    started = time.monotonic()
    os.environ.setdefault("RUST_LOG", "error")  # Sail logs every session at INFO otherwise
    os.environ.setdefault("SAIL_OPTIMIZER__ENABLE_JOIN_SWAP", "false")  # joins hold their left side (see above)
    # the embedded server's one session is this process's, for as long as it runs: Sail's default drops a session
    # after 15 idle minutes, and a job that trained longer than that (no query meanwhile) failed on its next query
    os.environ.setdefault("SAIL_SPARK__SESSION_TIMEOUT_SECS", str(SESSION_IDLE_LIMIT_S))
    from pysail.spark import SparkConnectServer

    limits = {"SAIL_EXECUTION__DEFAULT_PARALLELISM": str(partitions)} if partitions > 0 else {}
    if memory_mb > 0:
        limits |= {
            "SAIL_RUNTIME__MEMORY_POOL__TYPE": "fair",
            "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": str(memory_mb * 2**20),
        }
    with _environment(limits):
        server = SparkConnectServer("127.0.0.1", 0)  # Sail reads its configuration when the server starts
        server.start(background=True)
    host, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").getOrCreate()
    return Engine(spark, "embedded", workers, 0, round(time.monotonic() - started, 2), server)


def _check_remote(url: str, timeout_s: float = 5.0) -> None:
    """A ``spark_remote`` that is no Spark Connect URL, or where nothing listens, fails here in one line: Spark
    Connect itself would retry the first call for minutes before it gave up."""
    import socket

    from pyspark.errors import PySparkValueError
    from pyspark.sql.connect.client import DefaultChannelBuilder

    try:
        host, port = DefaultChannelBuilder(url).endpoint.rsplit(":", 1)
    except PySparkValueError:
        raise ValueError(f"config: spark_remote={url!r} is not sc://host:port ({env_name('spark_remote')})") from None
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ValueError(
            f"config: spark_remote={url!r}: no Spark Connect server answers at {host}:{port} ({exc.strerror or exc}; "
            f"{env_name('spark_remote')})"
        ) from None


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block only."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_STARTED: list[dict[str, Any]] = []


def started_engines() -> list[dict[str, Any]]:
    """The engines :func:`session` started since the last call (kind, start-up seconds, UDF workers and
    partitions): what a command's ``--json`` summary reports under ``engine``."""
    started = list(_STARTED)
    _STARTED.clear()
    return started


@contextmanager
def session(settings: Settings, partitions: int = 0, memory_mb: int = 0) -> Iterator[tuple[Engine, Catalog]]:
    """An engine (see :func:`start_engine`) and the catalog of molpipe's tables on it, stopped on exit."""
    engine = start_engine(settings, partitions, memory_mb)
    _STARTED.append(
        {
            "kind": engine.kind,
            "startup_s": engine.startup_s,
            "udf_workers": engine.udf_workers,
            "udf_partitions": engine.udf_partitions,
        }
    )
    try:
        yield engine, Catalog(engine.spark, settings, engine.kind == "databricks", engine.udf_partitions)
    finally:
        engine.stop()
