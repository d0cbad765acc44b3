"""`molpipe status` through the real databricks-sdk WorkspaceClient against a fake workspace on loopback."""

import json
import os
import subprocess
import sys

from molpipe.databricks.workspace_status import workspace_status

MODEL = "ml.molpipe.hiv_gnn"
JOBS = {
    "jobs": [
        {"job_id": 11, "settings": {"name": "molpipe-train", "tags": {"project": "molpipe"}}},
        {
            "job_id": 12,
            "settings": {
                "name": "molpipe-score",
                "tags": {"project": "molpipe"},
                "schedule": {"quartz_cron_expression": "0 0 6 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
            },
        },
        {
            "job_id": 13,
            "settings": {
                "name": "molpipe-retrain_on_new_results",
                "tags": {"project": "molpipe"},
                "trigger": {"pause_status": "PAUSED", "table_update": {"table_names": ["ml.molpipe.lab.results"]}},
            },
        },
        {"job_id": 99, "settings": {"name": "someone-elses-job", "tags": {"project": "other"}}},
    ]
}
RUNS = {
    11: {
        "runs": [
            {
                "run_id": 1101,
                "start_time": 1767261600000,
                "end_time": 1767262500000,
                "run_page_url": "https://example/run/1101",
                "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": ""},
            }
        ],
        "has_more": True,
        "next_page_token": "more",
    },
    12: {
        "runs": [
            {
                "run_id": 1201,
                "start_time": 1767265200000,
                "state": {"life_cycle_state": "RUNNING", "state_message": "In run"},
            }
        ]
    },
    13: {"runs": []},
}


def deployed(workspace, served_version="3", champion_version=4):
    workspace.route("GET", "/api/2.2/jobs/list", JOBS)
    workspace.route("GET", "/api/2.2/jobs/runs/list", lambda r: RUNS[int(r["query"]["job_id"][0])])
    workspace.route(
        "GET",
        "/api/2.0/serving-endpoints/hiv_gnn-champion",
        {
            "name": "hiv_gnn-champion",
            "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
            "config": {
                "served_entities": [{"name": "champion", "entity_name": MODEL, "entity_version": served_version}]
            },
        },
    )
    workspace.route(
        "GET",
        f"/api/2.1/unity-catalog/models/{MODEL}/aliases/champion",
        {
            "model_name": MODEL,
            "version": champion_version,
            "run_id": "abc123",
            "created_at": 1767258000000,
        },
    )


def test_jobs_last_runs_endpoint_and_champion(workspace):
    deployed(workspace)
    status = workspace_status(workspace.client(), ("project", "molpipe"), MODEL, "hiv_gnn-champion")
    assert status.host == workspace.host
    assert [j.name for j in status.jobs] == ["molpipe-retrain_on_new_results", "molpipe-score", "molpipe-train"]
    retrain, score, train = status.jobs
    assert train.last_run == {
        "run_id": 1101,
        "state": "TERMINATED",
        "result": "SUCCESS",
        "message": "",
        "started": "2026-01-01T10:00:00+00:00",
        "ended": "2026-01-01T10:15:00+00:00",
        "url": "https://example/run/1101",
    }
    assert (score.schedule, score.paused, score.last_run["state"], score.last_run["ended"]) == (
        "cron 0 0 6 * * ?",
        False,
        "RUNNING",
        None,
    )
    assert (retrain.schedule, retrain.paused, retrain.last_run) == ("table_update", True, None)
    # one page of runs per job is enough: the SDK is not asked for the next page
    assert len(workspace.asked("GET", "/api/2.2/jobs/runs/list")) == 3
    assert status.endpoint == {
        "name": "hiv_gnn-champion",
        "exists": True,
        "ready": "READY",
        "config_update": "NOT_UPDATING",
        "served": [{"entity": MODEL, "version": "3"}],
    }
    assert status.champion == {
        "model": MODEL,
        "version": "4",
        "run_id": "abc123",
        "created": "2026-01-01T09:00:00+00:00",
    }
    assert status.serves_champion is False
    text = status.describe()
    assert "champion ml.molpipe.hiv_gnn v4 (NOT served: redeploy with --var champion_version=4)" in text
    assert "molpipe-score" in text and "(paused)" in text and "someone-elses-job" not in text


def test_served_champion_and_missing_pieces(workspace):
    deployed(workspace, served_version="4")
    assert workspace_status(workspace.client(), ("project", "molpipe"), MODEL, "hiv_gnn-champion").serves_champion
    status = workspace_status(workspace.client(), ("project", "molpipe"), "ml.molpipe.nothing", "no-such-endpoint")
    assert status.endpoint == {"name": "no-such-endpoint", "exists": False, "served": None}
    assert status.champion is None and status.serves_champion is None
    assert "not deployed" in status.describe()


def test_status_command_uses_the_sdks_environment_auth(workspace, tmp_path):
    deployed(workspace)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env |= {
        "DATABRICKS_HOST": workspace.host,
        "DATABRICKS_TOKEN": "dapi-fake",
        "MOLPIPE_CATALOG": "ml",
        "MOLPIPE_SCHEMA": "molpipe",
        "MOLPIPE_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "molpipe", "status", "--model", "hiv_gnn", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["jobs"]) == 3 and summary["champion"]["version"] == "4"
    assert summary["endpoint"]["name"] == "hiv_gnn-champion" and summary["serves_champion"] is False
    assert all(r["query"].get("limit") == ["1"] for r in workspace.asked("GET", "/api/2.2/jobs/runs/list"))
    assert {r["path"] for r in workspace.requests} >= {
        "/api/2.2/jobs/list",
        "/api/2.0/serving-endpoints/hiv_gnn-champion",
    }
