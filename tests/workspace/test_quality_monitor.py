"""The Lakehouse Monitoring quality monitor on candidates, through the SDK's Data Quality API, against a fake
workspace: created once (time series on scored_at, sliced by model version and acquisition), refreshed each time."""

import pytest

from molpipe.monitor.lakehouse import ensure_quality_monitor, granularity

TABLE, SCHEMA = "ml.molpipe.candidates", "ml.molpipe"
MONITOR = "/api/data-quality/v1/monitors/table/tbl-1"


def workspace_with_table(workspace, monitors: dict):
    workspace.route("GET", f"/api/2.1/unity-catalog/tables/{TABLE}", {"full_name": TABLE, "table_id": "tbl-1"})
    workspace.route("GET", f"/api/2.1/unity-catalog/schemas/{SCHEMA}", {"full_name": SCHEMA, "schema_id": "sch-9"})
    workspace.route("GET", MONITOR, lambda r: monitors.get("tbl-1"))

    def create(request):
        body = request["body"]
        monitors[body["object_id"]] = {
            **body,
            "data_profiling_config": {
                **body["data_profiling_config"],
                "status": "DATA_PROFILING_STATUS_PENDING",
                "profile_metrics_table_name": f"{TABLE}_profile_metrics",
                "drift_metrics_table_name": f"{TABLE}_drift_metrics",
            },
        }
        return monitors[body["object_id"]]

    workspace.route("POST", "/api/data-quality/v1/monitors", create)
    workspace.route(
        "POST",
        f"{MONITOR}/refreshes",
        lambda r: {**r["body"], "refresh_id": 7, "state": "MONITOR_REFRESH_STATE_PENDING"},
    )


def test_creates_the_monitor_once_and_refreshes_every_time(workspace):
    monitors = {}
    workspace_with_table(workspace, monitors)
    first = ensure_quality_monitor(workspace.client(), TABLE, SCHEMA, "/Workspace/Shared/molpipe/monitoring", "1 day")
    assert first["created"] and first["refresh_id"] == 7 and first["status"] == "DATA_PROFILING_STATUS_PENDING"
    assert first["drift_metrics_table"] == f"{TABLE}_drift_metrics"
    (created,) = workspace.asked("POST", "/api/data-quality/v1/monitors")
    assert created["body"] == {
        "object_type": "table",
        "object_id": "tbl-1",
        "data_profiling_config": {
            "output_schema_id": "sch-9",
            "assets_dir": "/Workspace/Shared/molpipe/monitoring",
            "slicing_exprs": ["model_version", "acquisition"],
            "time_series": {"timestamp_column": "scored_at", "granularities": ["AGGREGATION_GRANULARITY_1_DAY"]},
        },
    }
    second = ensure_quality_monitor(workspace.client(), TABLE, SCHEMA, "/Workspace/Shared/molpipe/monitoring", "1 day")
    assert not second["created"] and len(workspace.asked("POST", "/api/data-quality/v1/monitors")) == 1
    assert len(workspace.asked("POST", f"{MONITOR}/refreshes")) == 2
    third = ensure_quality_monitor(workspace.client(), TABLE, SCHEMA, "/x", "1 day", refresh=False)
    assert third["refresh_id"] is None and len(workspace.asked("POST", f"{MONITOR}/refreshes")) == 2


def test_a_table_not_written_yet_is_a_clear_error(workspace):
    with pytest.raises(ValueError, match="does not exist yet: score once"):
        ensure_quality_monitor(workspace.client(), TABLE, SCHEMA, "/x", "1 day")


def test_granularities_by_name():
    assert granularity("1 day").name == "AGGREGATION_GRANULARITY_1_DAY"
    assert granularity("2 weeks").name == "AGGREGATION_GRANULARITY_2_WEEKS"
    assert granularity("30 minutes").name == "AGGREGATION_GRANULARITY_30_MINUTES"
    with pytest.raises(ValueError, match="choose from .*1_day"):
        granularity("fortnightly")


def test_the_job_entry_point_qualifies_the_table_in_the_catalog(workspace, tmp_path, run_job_script, monkeypatch):
    workspace_with_table(workspace, {})
    for name, value in {
        "DATABRICKS_HOST": workspace.host,
        "DATABRICKS_TOKEN": "dapi-fake",
        "MOLPIPE_CATALOG": "ml",
        "MOLPIPE_SCHEMA": "molpipe",
        "MOLPIPE_HOME": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    code, summary, published, err = run_job_script("quality_monitor", "--assets-dir", "/Workspace/m", "--json")
    assert code == 0, err
    assert (summary["table"], summary["created"], summary["refresh_id"]) == (TABLE, True, 7)
    assert published == {
        "table": TABLE,
        "table_id": "tbl-1",
        "created": True,
        "refresh_id": 7,
        "status": "DATA_PROFILING_STATUS_PENDING",
        "refresh_state": "MONITOR_REFRESH_STATE_PENDING",
        "profile_metrics_table": f"{TABLE}_profile_metrics",
        "drift_metrics_table": f"{TABLE}_drift_metrics",
    }
