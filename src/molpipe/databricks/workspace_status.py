"""``molpipe status``: the deployed pipeline at a glance, through the Databricks SDK's ``WorkspaceClient``.

* every job of the bundle (found by its tag, ``project=molpipe`` by default) with its last run's state;
* the Model Serving endpoint's state and the model version it serves;
* the registered model's ``champion`` version, and whether the endpoint serves it (``serves_champion``): the
  endpoint names a fixed version, so it lags a promotion until the next ``databricks bundle deploy``.

Authentication is the SDK's own: ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN``, a ``~/.databrickscfg`` profile
(``--profile``), or whatever else the SDK's unified auth finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from molpipe.registry.tracking import CHAMPION


@dataclass
class JobStatus:
    name: str
    job_id: int
    schedule: str | None  # cron, trigger kind, or None (run on demand or by another job)
    paused: bool | None
    last_run: dict[str, Any] | None  # run_id, state, result, started, ended, url


@dataclass
class WorkspaceStatus:
    host: str
    jobs: list[JobStatus] = field(default_factory=list)
    endpoint: dict[str, Any] | None = None  # name, ready, config_update, served: [{entity, version}]
    champion: dict[str, Any] | None = None  # model, version, run_id, created
    serves_champion: bool | None = None

    def describe(self) -> str:
        """What ``molpipe status`` prints: each job's trigger and last run, the endpoint, the champion."""
        lines = [f"workspace {self.host}"]
        if not self.jobs:
            lines.append("  no molpipe jobs (deploy the bundle: databricks bundle deploy -t dev)")
        for job in self.jobs:
            run = job.last_run
            last = (
                "never run"
                if run is None
                else f"last run {run['run_id']} {run['result'] or run['state']} (started {run['started']})"
            )
            trigger = f"{job.schedule}{' (paused)' if job.paused else ''}" if job.schedule else "on demand"
            lines.append(f"  job {job.name:<40} {trigger:<32} {last}")
        if self.endpoint is not None:
            e = self.endpoint
            if not e["exists"]:
                lines.append(f"  endpoint {e['name']}: not deployed")
            else:
                served = ", ".join(f"{s['entity']} v{s['version']}" for s in e["served"]) or "nothing"
                lines.append(f"  endpoint {e['name']}: {e['ready']}, config {e['config_update']}, serving {served}")
        if self.champion is not None:
            c = self.champion
            redeploy = f" (NOT served: redeploy with --var champion_version={c['version']})"
            note = {True: " (served)", False: redeploy}
            lines.append(f"  champion {c['model']} v{c['version']}{note.get(self.serves_champion, '')}")
        return "\n".join(lines)


def workspace_status(client, tag: tuple[str, str], model: str | None, endpoint: str | None) -> WorkspaceStatus:
    """What ``client`` (a ``WorkspaceClient``) says about the jobs tagged ``tag``, ``endpoint`` and ``model``."""
    status = WorkspaceStatus(host=client.config.host)
    key, value = tag
    for job in client.jobs.list():
        settings = job.settings
        if settings is None or (settings.tags or {}).get(key) != value:
            continue
        status.jobs.append(
            JobStatus(settings.name or str(job.job_id), job.job_id, *_trigger(settings), _last_run(client, job.job_id))
        )
    status.jobs.sort(key=lambda j: j.name)
    if endpoint:
        status.endpoint = _endpoint(client, endpoint)
    if model:
        status.champion = _champion(client, model)
    if status.endpoint and status.endpoint.get("served") is not None and status.champion:
        status.serves_champion = any(
            served["entity"] == model and served["version"] == status.champion["version"]
            for served in status.endpoint["served"]
        )
    return status


def _trigger(settings) -> tuple[str | None, bool | None]:
    if settings.schedule is not None:
        pause = settings.schedule.pause_status
        return f"cron {settings.schedule.quartz_cron_expression}", _paused(pause)
    trigger = settings.trigger
    if trigger is not None:
        kind = next(
            (k for k in ("file_arrival", "table_update", "periodic", "model") if getattr(trigger, k, None)), None
        )
        return kind, _paused(trigger.pause_status)
    return None, None


def _paused(pause) -> bool | None:
    return None if pause is None else pause.value == "PAUSED"


def _last_run(client, job_id: int) -> dict[str, Any] | None:
    run = next(iter(client.jobs.list_runs(job_id=job_id, limit=1)), None)
    if run is None:
        return None
    state = run.state
    return {
        "run_id": run.run_id,
        "state": state.life_cycle_state.value if state and state.life_cycle_state else None,
        "result": state.result_state.value if state and state.result_state else None,
        "message": state.state_message if state else None,
        "started": _time(run.start_time),
        "ended": _time(run.end_time),
        "url": run.run_page_url,
    }


def _endpoint(client, name: str) -> dict[str, Any]:
    from databricks.sdk.errors import NotFound

    try:
        detail = client.serving_endpoints.get(name)
    except NotFound:
        return {"name": name, "exists": False, "served": None}
    state, config = detail.state, detail.config
    return {
        "name": name,
        "exists": True,
        "ready": state.ready.value if state and state.ready else None,
        "config_update": state.config_update.value if state and state.config_update else None,
        "served": [
            {"entity": e.entity_name, "version": str(e.entity_version) if e.entity_version is not None else None}
            for e in ((config.served_entities or []) if config else [])
        ],
    }


def _champion(client, model: str) -> dict[str, Any] | None:
    from databricks.sdk.errors import NotFound

    try:
        version = client.model_versions.get_by_alias(model, CHAMPION)
    except NotFound:
        return None
    return {
        "model": model,
        "version": str(version.version),
        "run_id": version.run_id,
        "created": _time(version.created_at),
    }


def _time(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds") if millis else None
