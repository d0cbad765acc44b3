"""An Apache Spark Connect server with Delta Lake, started and stopped by molpipe (``engine = "spark"``).

The server is its own process (``spark-submit`` of Spark's ``SparkConnectServer``, from the full ``pyspark``
package), so the job talks to it exactly as it would to a cluster or Databricks: through Spark Connect only. Its log
goes to ``$MOLPIPE_HOME/logs``. Delta's jars are resolved by Ivy from Maven Central on the first start, into a cache
shared by every home; later starts pass the cached jars and reach no network.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from molpipe.config import Settings

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
_IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="central"/>
  <resolvers><ibiblio name="central" m2compatible="true" root="{root}"/></resolvers>
</ivysettings>
"""
_MASTER = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|spark://.+")


@dataclass
class SparkServer:
    """A running server: connect with :attr:`url`; :meth:`stop` ends it."""

    process: subprocess.Popen
    url: str
    log: Path
    startup_s: float
    slots: int  # task slots (parallel UDF workers) where the master says; 0 when it does not (spark://)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def delta_coordinate(*, settings: Settings) -> str:
    """Delta's Maven artifact for the installed Spark: from Delta 4.1 it names the Spark version it is built for."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{settings.spark_server.delta_version}"


def task_slots(master: str) -> int:
    """Parallel tasks ``master`` gives: ``local[N]`` N, ``local[*]`` every core, ``local-cluster[N,C,MB]`` N x C."""
    if master == "local":
        return 1
    if match := re.fullmatch(r"local\[(\*|\d+)(,\d+)?\]", master):
        return os.cpu_count() or 1 if match.group(1) == "*" else int(match.group(1))
    if match := re.fullmatch(r"local-cluster\[(\d+),(\d+),\d+\]", master):
        return int(match.group(1)) * int(match.group(2))
    return 0


def start_spark_server(*, settings: Settings) -> SparkServer:
    """Start the server for ``settings.spark_master`` and wait until it answers; raises ``RuntimeError`` with the
    log's last lines if it exits or does not answer within ``spark_server.start_timeout_s``."""
    master = settings.spark_master
    if not _MASTER.fullmatch(master):
        raise ValueError(
            f"config: spark_master={master!r} is not local[N], local[*], local-cluster[N,cores,MB] or spark://host:port"
        )
    started = time.monotonic()
    with _first_resolution(settings):
        server = _launch(settings)
        _remember_jars(settings)
    server.startup_s = round(time.monotonic() - started, 2)
    return server


@contextmanager
def _first_resolution(settings: Settings) -> Iterator[None]:
    """Held by a start that may resolve Delta's jars: Ivy's cache is not safe for two processes resolving into it
    at once (two servers starting together on a fresh machine, as ``make test``'s two passes do), so the second
    waits for the first and then starts from the jars it listed."""
    cache = _cache(settings)
    if (cache / "jars.txt").is_file():
        yield
        return
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "resolve.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _launch(settings: Settings) -> SparkServer:
    options = settings.spark_server
    master = settings.spark_master
    home = settings.home_path
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"spark-server-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    port, token = _free_port(), secrets.token_hex(16)
    slots = task_slots(master)
    conf = {
        **DELTA_CONF,
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.sql.warehouse.dir": str(home / "spark-warehouse"),
        "spark.driver.memory": options.driver_memory,
        "spark.executor.memory": options.executor_memory,
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "WARN",
        # on one machine: a shuffle over the task slots, not 200 near-empty tasks, and Delta's log replayed in as
        # many partitions, not 50 (each MERGE on a small table took 2.5 s instead of 1.3 s, ingest 5.5 s vs 2.1 s);
        # VACUUM lists a table's folders in as many tasks, not 10,000 (about 35 s per small table on 2 cores)
        **(
            {
                "spark.sql.shuffle.partitions": str(slots),
                "spark.databricks.delta.snapshotPartitions": str(slots),
                "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(slots),
            }
            if slots
            else {}
        ),
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        # the server's sessions are its launching process's: kept while it trains for longer than Spark's 60 minutes
        "spark.connect.session.manager.defaultSessionTimeout": "-1",
        **(
            {
                "spark.driver.extraJavaOptions": options.java_options,
                "spark.executor.extraJavaOptions": options.java_options,
            }
            if options.java_options
            else {}
        ),
        **_jars_conf(settings),
        **_parse_conf(options.conf),
    }
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        master,
        "--name",
        "molpipe",
    ]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command.append("spark-internal")
    environment = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_CONNECT_AUTHENTICATE_TOKEN": token,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,
        )
    server = SparkServer(process, f"sc://localhost:{port}/;token={token}", log, 0.0, slots)
    try:
        _wait_until_listening(server, port, options.start_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_listening(server: SparkServer, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the Spark Connect server exited ({server.process.returncode}):\n{_tail(server.log)}")
        with socket.socket() as probe:  # the gRPC port opens once the session is up (the log says it at INFO only)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise RuntimeError(
        f"the Spark Connect server did not answer within {timeout_s:.0f} s "
        f"(spark_server.start_timeout_s):\n{_tail(server.log)}"
    )


def _tail(log: Path, lines: int = 15) -> str:
    text = log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) + f"\n(whole log: {log})"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cache(settings: Settings) -> Path:
    """The jars of one Delta coordinate (Ivy's cache and retrieved jars live under it)."""
    root = settings.spark_server.jars_cache or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "molpipe", "spark"
    )
    return Path(root).expanduser() / delta_coordinate(settings=settings).replace(":", "_")


def _jars_conf(settings: Settings) -> dict[str, str]:
    """``spark.jars`` from the cache once resolved; before that, ``spark.jars.packages`` for Ivy to resolve."""
    cache = _cache(settings)
    resolved = cache / "jars.txt"
    if resolved.is_file():
        jars = resolved.read_text().split()
        if jars and all(Path(jar).is_file() for jar in jars):
            return {"spark.jars": ",".join(jars)}
    cache.mkdir(parents=True, exist_ok=True)
    ivy_settings = cache / "ivysettings.xml"
    ivy_settings.write_text(_IVY_SETTINGS.format(root=settings.spark_server.maven_repository))
    return {
        "spark.jars.packages": delta_coordinate(settings=settings),
        "spark.jars.ivy": str(cache / "ivy"),
        "spark.jars.ivySettings": str(ivy_settings),
    }


def _remember_jars(settings: Settings) -> None:
    """After a start that resolved the jars (and so loaded them), list them for the next start."""
    cache = _cache(settings)
    retrieved = sorted(str(jar) for jar in (cache / "ivy" / "jars").glob("*.jar"))
    if retrieved and not (cache / "jars.txt").is_file():
        (cache / "jars.txt.tmp").write_text("\n".join(retrieved) + "\n")
        (cache / "jars.txt.tmp").replace(cache / "jars.txt")


def _parse_conf(text: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"config: spark_server.conf item {item!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs
