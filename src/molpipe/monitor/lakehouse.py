"""Databricks Lakehouse Monitoring on a molpipe table (``candidates`` by default), through the SDK's Data Quality
API: a time-series data-profiling monitor (profile and drift metrics per time window, sliced by model version
and acquisition function, with its dashboard) created once, then refreshed on each call.

It lives in the monitor job rather than in the bundle's resources because a monitor needs its table to exist,
and ``candidates`` only exists once the first scoring run has written it.
"""

from __future__ import annotations

import re
from typing import Any

SLICES = ["model_version", "acquisition"]
TIMESTAMP = "scored_at"


def granularity(text: str):
    """``"1 day"``, ``"1 week"``, ``"30 minutes"`` ... -> the SDK's AggregationGranularity."""
    from databricks.sdk.service.dataquality import AggregationGranularity

    match = re.fullmatch(r"\s*(\d+)\s*(minute|hour|day|week|month|year)s?\s*", text.lower())
    name = ""
    if match:
        count, unit = match.groups()
        name = f"AGGREGATION_GRANULARITY_{count}_{unit.upper()}{'' if count == '1' else 'S'}"
    try:
        return AggregationGranularity[name]
    except KeyError:
        choices = ", ".join(g.name.removeprefix("AGGREGATION_GRANULARITY_").lower() for g in AggregationGranularity)
        raise ValueError(f"granularity {text!r}: choose from {choices}") from None


def ensure_quality_monitor(
    client, table: str, output_schema: str, assets_dir: str, window: str, refresh: bool = True
) -> dict[str, Any]:
    """Create the monitor on ``table`` (``catalog.schema.name``) unless it exists, then start a refresh."""
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.dataquality import DataProfilingConfig, Monitor, Refresh, TimeSeriesConfig

    every = granularity(window)
    try:
        table_id = client.tables.get(table).table_id
    except NotFound:
        raise ValueError(f"table {table} does not exist yet: score once before monitoring it") from None
    try:
        monitor = client.data_quality.get_monitor("table", table_id)
        created = False
    except NotFound:
        schema_id = client.schemas.get(output_schema).schema_id
        config = DataProfilingConfig(
            output_schema_id=schema_id,
            assets_dir=assets_dir,
            slicing_exprs=SLICES,
            time_series=TimeSeriesConfig(timestamp_column=TIMESTAMP, granularities=[every]),
        )
        monitor = client.data_quality.create_monitor(Monitor("table", table_id, data_profiling_config=config))
        created = True
    result: dict[str, Any] = {"table": table, "table_id": table_id, "created": created, "refresh_id": None}
    profile = monitor.data_profiling_config
    if profile is not None:
        result |= {
            "status": profile.status.value if profile.status else None,
            "dashboard_id": profile.dashboard_id,
            "profile_metrics_table": profile.profile_metrics_table_name,
            "drift_metrics_table": profile.drift_metrics_table_name,
        }
    if refresh:
        started = client.data_quality.create_refresh("table", table_id, Refresh("table", table_id))
        result["refresh_id"] = started.refresh_id
        result["refresh_state"] = started.state.value if started.state else None
    return result
