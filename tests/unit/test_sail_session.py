"""The embedded Sail server's session lives as long as the job that started it, however long the job goes
without a query (a training run of an hour)."""

import os
import subprocess
import sys

from molpipe.runtime.engine import SESSION_IDLE_LIMIT_S

IDLE_THEN_QUERY = """
import os, sys, tempfile, time
from molpipe.config import load_settings
from molpipe.runtime.engine import session
with session(load_settings().replace(home=tempfile.mkdtemp())) as (engine, catalog):
    catalog.spark.range(3).count()
    print(os.environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"])
    time.sleep(5)
    try:
        print(catalog.spark.range(3).count())
    except Exception as exc:
        print(str(exc).splitlines()[0])
"""


def test_the_embedded_session_outlives_a_long_idle_stretch():
    """A job that trains for longer than Sail's idle limit (15 minutes by default) without a query must find its
    session on the next query. The limit reaches Sail through the environment, as an override shows: at 2 s the
    same idle stretch drops the session."""
    environ = {k: v for k, v in os.environ.items() if k != "SAIL_SPARK__SESSION_TIMEOUT_SECS"}
    run = [sys.executable, "-c", IDLE_THEN_QUERY]
    default = subprocess.run(run, capture_output=True, text=True, check=True, env=environ).stdout.split()
    assert default == [str(SESSION_IDLE_LIMIT_S), "3"]
    environ["SAIL_SPARK__SESSION_TIMEOUT_SECS"] = "2"
    short = subprocess.run(run, capture_output=True, text=True, check=True, env=environ).stdout.splitlines()
    assert short[0] == "2" and "is not running" in short[1], short
