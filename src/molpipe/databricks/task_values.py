"""A job task's results handed on to the tasks after it, as Databricks task values.

Every top-level scalar of a job command's summary (``run_id``, ``version``, ``passed``, ``retrain``, ...) becomes a
task value of the same name, so a later task of the same job run reads ``{{tasks.train.values.version}}`` and a
condition task branches on ``{{tasks.validate.values.passed}}``. Outside a Databricks runtime nothing is published:
the same entry points run locally unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

MAX_BYTES = 48 * 1024  # Databricks' limit on one task value's JSON


def publishable(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's scalars (strings, numbers, booleans) small enough to be task values."""
    return {
        key: value
        for key, value in summary.items()
        if isinstance(value, (str, int, float, bool)) and len(json.dumps(value)) <= MAX_BYTES
    }


def publish(summary: Mapping[str, Any], dbutils: Any = None) -> dict[str, Any]:
    """Set each publishable value as a task value; returns what was set (nothing outside Databricks)."""
    if dbutils is None:
        if "DATABRICKS_RUNTIME_VERSION" not in os.environ:
            return {}
        from databricks.sdk.runtime import dbutils  # the runtime's own, on a cluster
    values = publishable(summary)
    for key, value in values.items():
        dbutils.jobs.taskValues.set(key=key, value=value)
    return values
