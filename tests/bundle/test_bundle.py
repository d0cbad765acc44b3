"""The Databricks Asset Bundle, validated without a workspace (no Databricks CLI can be installed here).

For each target: every resource through the databricks-bundles typed classes (unknown fields and enum values are
errors), every file a resource names exists, every task's parameters are accepted by its entry point's argument
parser (with run-time values filled in), task values and job parameters are wired to things that exist, and the
shape the pipeline needs (triggers, schedules, notifications, timeouts, the molpipe environment) holds. The
Databricks CLI's own JSON schema, when ../shared/bundle-schema/ is there, checks each file more strictly still.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import runpy
import subprocess
import sys
import typing
import zipfile
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from .bundle_config import DYNAMIC, dynamic_references, load

pytestmark = pytest.mark.bundle

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles"
SCHEMA = REPO.parent / "shared" / "bundle-schema" / "jsonschema.json"
TARGETS = ("dev", "prod")
CLI_VARS = {"prod": {"service_principal": "6f1c2e1a-0000-4000-8000-000000000001", "champion_version": "3"}}  # --var
JOBS = {"featurize", "train", "train_multinode", "score", "monitor", "retrain_on_new_results", "ingest_results"}
VARIANTS = {"train_multinode": "train"}  # a variant lives in the file of the job it varies, whose YAML anchors it uses
ENV = {"MOLPIPE_CATALOG", "MOLPIPE_SCHEMA", "MOLPIPE_HOME", "MOLPIPE_EXPERIMENT", "MLFLOW_DISABLE_TELEMETRY"}
# what each command's summary is: its scalar fields are the task values a later task may read
SUMMARIES = {
    "train": "molpipe.train.job:TrainSummary",
    "validate": "molpipe.registry.lifecycle:ValidationResult",
    "promote": "molpipe.registry.lifecycle:AliasChange",
    "monitor": "molpipe.monitor.job:MonitorSummary",
    "score": "molpipe.score.job:ScoreSummary",
}


def resource_classes():
    from databricks.bundles.experiments import MlflowExperiment
    from databricks.bundles.jobs import Job
    from databricks.bundles.model_serving_endpoints import ModelServingEndpoint
    from databricks.bundles.registered_models import RegisteredModel
    from databricks.bundles.schemas import Schema
    from databricks.bundles.volumes import Volume

    return {
        "jobs": Job,
        "experiments": MlflowExperiment,
        "registered_models": RegisteredModel,
        "model_serving_endpoints": ModelServingEndpoint,
        "schemas": Schema,
        "volumes": Volume,
    }


@pytest.fixture(scope="module")
def bundle():
    return load(BUNDLE)


@pytest.fixture(scope="module", params=TARGETS)
def target(request, bundle):
    return bundle.target(request.param, CLI_VARS.get(request.param))


def python_tasks(target):
    for key, job in target.resources["jobs"].items():
        for task in job["tasks"]:
            if "spark_python_task" in task:
                yield key, job, task


def test_includes_every_resource_file_and_defines_the_pipelines_jobs(bundle):
    assert {p.name for p in bundle.files} == {"databricks.yml"} | {p.name for p in (BUNDLE / "resources").glob("*.yml")}
    assert set(bundle.config["resources"]["jobs"]) == JOBS
    for key in JOBS:  # one file per job, named after it (or after the job it is a variant of)
        assert bundle.origin[("jobs", key)].name == f"{VARIANTS.get(key, key)}.yml"


def test_every_resource_loads_into_its_typed_class(target):
    classes = resource_classes()
    checked = 0
    for kind, resources in target.resources.items():
        assert kind in classes, f"no typed class checks resources.{kind}"
        for key, spec in resources.items():
            try:
                classes[kind].from_dict(dict(spec))
            except (ValueError, TypeError) as exc:
                pytest.fail(f"{target.name}: resources.{kind}.{key}: {exc}")
            checked += 1
    assert checked >= len(JOBS) + 5


def test_typed_classes_reject_a_misspelt_field(target):
    from databricks.bundles.jobs import Job

    job = dict(target.resources["jobs"]["score"])
    job["shedule"] = job.pop("schedule")
    with pytest.raises(ValueError, match="Unexpected field 'shedule'"):
        Job.from_dict(job)


def test_targets_development_and_production(bundle):
    dev, prod = bundle.target("dev"), bundle.target("prod", CLI_VARS["prod"])
    assert (dev.mode, prod.mode) == ("development", "production")
    assert bundle.config["targets"]["dev"].get("default") is True
    assert dev.run_as is None  # development runs as whoever deploys
    assert set(prod.run_as) == {"service_principal_name"}
    with pytest.raises(ValueError, match="required variable 'service_principal'"):  # production needs it given
        bundle.target("prod")
    # GPU training in production, CPU in development
    assert "gpu" in prod.variables["train_spark_version"] and "gpu" not in dev.variables["train_spark_version"]
    for target in (dev, prod):  # and one runtime (one Python for the wheel) for every cluster: its CPU or GPU build
        assert "-cpu-ml-" in target.variables["spark_version"]
        assert target.variables["train_spark_version"] in {
            target.variables["spark_version"],
            target.variables["spark_version"].replace("-cpu-ml-", "-gpu-ml-"),
        }


def test_the_champion_endpoint_is_deployed_once_there_is_a_version_to_serve(bundle):
    assert "model_serving_endpoints" not in bundle.target("dev").resources
    without = bundle.target("prod", {"service_principal": "sp"})
    assert "model_serving_endpoints" not in without.resources
    for target in (bundle.target("dev", {"champion_version": "7"}), bundle.target("prod", CLI_VARS["prod"])):
        endpoint = target.resources["model_serving_endpoints"]["champion"]
        (entity,) = endpoint["config"]["served_entities"]
        model = target.resources["registered_models"]["model"]
        assert entity["entity_name"] == f"{model['catalog_name']}.{model['schema_name']}.{model['name']}"
        assert entity["entity_version"] == target.variables["champion_version"]
        assert endpoint["name"] == f"{model['name']}-champion"  # what `molpipe status --model` looks for
        assert endpoint["ai_gateway"]["inference_table_config"]["schema_name"] == model["schema_name"]


def test_referenced_files_exist_and_the_wheel_comes_from_pyproject(target, bundle):
    artifact = bundle.config["artifacts"]["molpipe_wheel"]
    project = (BUNDLE / artifact["path"]).resolve()
    assert artifact["type"] == "whl" and (project / "pyproject.toml").is_file()
    wheel_dir = re.search(r"--wheel-dir (\S+)", artifact["build"]).group(1)
    for path in bundle.config["sync"]["paths"]:
        assert (BUNDLE / path).is_dir(), path
    synced = [(BUNDLE / p).resolve() for p in bundle.config["sync"]["paths"]]
    for key, _, task in python_tasks(target):
        script = target.path("jobs", key, task["spark_python_task"]["python_file"])
        assert script.is_file(), f"{key}.{task['task_key']}: {script} does not exist"
        assert any(script.is_relative_to(s) for s in synced), f"{script} is not synced to the workspace"
        wheels = [lib["whl"] for lib in task["libraries"]]
        assert len(wheels) == 1, f"{key}.{task['task_key']} must install the molpipe wheel"
        assert target.path("jobs", key, wheels[0]).parent == project / wheel_dir


def test_no_entry_point_shadows_a_standard_library_module():
    # a script's folder comes first on sys.path: jobs/select.py would replace `select` for every job in jobs/
    shadowing = {p.name for p in (REPO / "jobs").glob("*.py")} & {f"{m}.py" for m in sys.stdlib_module_names}
    assert not shadowing, f"rename {shadowing}: they shadow the standard library in every job of jobs/"


def test_every_task_parameter_is_accepted_by_its_entry_point(target, monkeypatch):
    import molpipe.cli

    parsed = []

    def parse_only(argv):
        parsed.append(molpipe.cli.build_parser().parse_args(argv))
        return 0, None

    monkeypatch.setattr(molpipe.cli, "execute", parse_only)
    for key, job, task in python_tasks(target):
        spec = task["spark_python_task"]
        wrong = [a for a in spec["parameters"] if not isinstance(a, str)]
        assert not wrong, f"{key}.{task['task_key']}: parameters are strings (quote them, or the variables): {wrong}"
        argv = [_runtime_value(a, job, target) for a in spec["parameters"]]
        script = target.path("jobs", key, spec["python_file"])
        monkeypatch.setattr(sys, "argv", [str(script), *argv])
        errors = io.StringIO()
        with redirect_stderr(errors):
            try:  # not pytest.raises(match="^0$"): a failure must show the task's arguments and stderr
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as exit_:
                code = exit_.code
            else:
                pytest.fail(f"{key}.{task['task_key']}: {script.name} ended without sys.exit")
        assert code == 0, f"{key}.{task['task_key']}: {' '.join(argv)}\n{errors.getvalue()}"
        assert parsed[-1].json, f"{key}.{task['task_key']} must print its JSON summary"


def _runtime_value(text: str, job, target) -> str:
    """A parameter as the task sees it at run time: {{...}} references replaced by plausible values."""
    parameters = {p["name"]: str(p["default"]) for p in job.get("parameters", [])}

    def value(match):
        ref = match.group(1)
        if ref == "job.run_id":
            return "123456"
        if ref.startswith("job.parameters."):
            return parameters[ref.split(".", 2)[2]]
        if ref.startswith("tasks."):
            return {"version": "3", "passed": "true", "retrain": "false"}.get(ref.rsplit(".", 1)[1], "run-1")
        raise AssertionError(f"unknown run-time reference {{{{{ref}}}}}")

    return DYNAMIC.sub(value, text)


def _summary_fields(command: str) -> dict[str, type]:
    module, name = SUMMARIES[command].split(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def _command(target, key, task) -> str | None:
    """The molpipe command a python task runs (``run_job("<command>")`` in its entry point)."""
    if "spark_python_task" not in task:
        return None
    source = target.path("jobs", key, task["spark_python_task"]["python_file"]).read_text()
    return re.search(r'run_job\("([\w-]+)"\)', source).group(1)


def test_task_graph_task_values_and_job_parameters_are_wired(target):
    jobs = target.resources["jobs"]
    for key, job in jobs.items():
        tasks = {t["task_key"]: t for t in job["tasks"]}
        assert len(tasks) == len(job["tasks"]), f"{key}: duplicate task keys"
        parameters = {p["name"] for p in job.get("parameters", [])}
        clusters = {c["job_cluster_key"] for c in job.get("job_clusters", [])}
        used_clusters = set()
        for task_key, task in tasks.items():
            upstream = _ancestors(tasks, task_key)
            for dep in task.get("depends_on", []):
                assert dep["task_key"] in tasks, f"{key}.{task_key} depends on unknown {dep['task_key']}"
                if "outcome" in dep:  # only a condition task has an outcome
                    assert "condition_task" in tasks[dep["task_key"]] and dep["outcome"] in {"true", "false"}
            if "job_cluster_key" in task:
                assert task["job_cluster_key"] in clusters
                used_clusters.add(task["job_cluster_key"])
            for ref in dynamic_references(task):
                if ref.startswith("job.parameters."):
                    assert ref.split(".", 2)[2] in parameters, f"{key}.{task_key}: {{{{{ref}}}}} is no job parameter"
                elif ref.startswith("tasks."):
                    _, source, _, value = ref.split(".")
                    assert source in upstream, f"{key}.{task_key} reads {source}'s values but does not run after it"
                    command = _command(target, key, tasks[source])
                    fields = _summary_fields(command)
                    assert value in fields, f"{key}.{task_key}: `molpipe {command}` publishes no '{value}'"
                    assert fields[value] in (str, int, float, bool, "str", "int", "float", "bool")
                else:
                    assert ref == "job.run_id", f"{key}.{task_key}: unexpected {{{{{ref}}}}}"
            if "condition_task" in task:
                assert {"left", "op", "right"} <= set(task["condition_task"])
        assert used_clusters == clusters, f"{key}: unused job clusters {clusters - used_clusters}"
        assert _ancestors(tasks, None) is not None  # acyclic


def test_run_job_tasks_pass_only_parameters_the_called_job_has(bundle):
    config = bundle.config["resources"]["jobs"]
    for key, job in config.items():
        for task in job["tasks"]:
            if "run_job_task" not in task:
                continue
            called = re.fullmatch(r"\$\{resources\.jobs\.(\w+)\.id\}", str(task["run_job_task"]["job_id"])).group(1)
            assert called in config, f"{key}.{task['task_key']} runs unknown job {called}"
            accepted = {p["name"] for p in config[called].get("parameters", [])}
            assert set(task["run_job_task"].get("job_parameters", {})) <= accepted


def _ancestors(tasks, key):
    """Task keys upstream of ``key`` (every task's when key is None); raises on a cycle."""
    seen: set[str] = set()

    def visit(k, path):
        if k in path:
            raise AssertionError(f"task cycle through {k}")
        for dep in tasks[k].get("depends_on", []):
            seen.add(dep["task_key"])
            visit(dep["task_key"], path | {k})

    for k in [key] if key else tasks:
        visit(k, frozenset())
    return seen


def test_jobs_are_scheduled_notified_bounded_and_share_the_molpipe_environment(target):
    jobs = target.resources["jobs"]
    triggers = {key: _trigger_kind(job) for key, job in jobs.items()}
    assert triggers == {
        "featurize": "file_arrival",
        "ingest_results": "file_arrival",
        "train": None,
        "train_multinode": None,
        "score": "schedule",
        "monitor": "schedule",
        "retrain_on_new_results": "table_update",
    }
    lab_results = jobs["retrain_on_new_results"]["trigger"]["table_update"]["table_names"]
    schema = target.resources["schemas"]["molpipe"]
    assert lab_results == [f"{schema['catalog_name']}.{schema['name']}.lab_results"]
    envs = []
    for key, job in jobs.items():
        assert job["name"].startswith(f"{target.name}-molpipe-")
        assert job["email_notifications"]["on_failure"] == [target.variables["notify"]]
        assert job["timeout_seconds"] > 0 and job["max_concurrent_runs"] == 1
        for task in job["tasks"]:
            if "spark_python_task" in task:
                assert task["timeout_seconds"] <= job["timeout_seconds"], f"{key}.{task['task_key']}"
                assert "max_retries" in task, f"{key}.{task['task_key']}: say whether it may be retried"
        for cluster in job["job_clusters"]:
            envs.append(cluster["new_cluster"]["spark_env_vars"])
    assert all(env == envs[0] for env in envs) and set(envs[0]) == ENV
    assert envs[0]["MOLPIPE_HOME"].startswith(f"/Volumes/{schema['catalog_name']}/{schema['name']}/")
    assert envs[0]["MOLPIPE_EXPERIMENT"] == target.resources["experiments"]["molpipe"]["name"]
    train_cluster = jobs["train"]["job_clusters"][0]["new_cluster"]
    assert train_cluster["node_type_id"] == target.variables["train_node_type"] and train_cluster["num_workers"] == 0


def test_the_multinode_training_is_train_with_one_ddp_process_on_each_worker(target):
    jobs = target.resources["jobs"]
    single, multi = jobs["train"], jobs["train_multinode"]
    (cluster,) = [c["new_cluster"] for c in multi["job_clusters"]]
    workers = cluster["num_workers"]
    assert isinstance(workers, int) and workers > 0 and workers == target.variables["train_workers"]
    assert cluster["data_security_mode"] == "SINGLE_USER"  # distributed training needs a dedicated cluster
    assert "spark_conf" not in cluster and "custom_tags" not in cluster  # none of the single-node profile
    single_cluster = single["job_clusters"][0]["new_cluster"]
    for key in ("spark_version", "node_type_id", "spark_env_vars"):
        assert cluster[key] == single_cluster[key], key
    tasks = {t["task_key"]: t for t in multi["tasks"]}
    argv = tasks["train"]["spark_python_task"]["parameters"]
    assert argv[argv.index("--placement") + 1] == "executors"
    (processes,) = [a.split("=", 1)[1] for a in argv if a.startswith("--num-processes=")]
    assert int(processes) == workers and "--num-processes" not in argv
    # everything else is train's: the job's settings, the train task but for its parameters, the tasks after it
    assert {k: v for k, v in multi.items() if k not in ("name", "description", "job_clusters", "tasks")} == {
        k: v for k, v in single.items() if k not in ("name", "description", "job_clusters", "tasks")
    }
    (single_train,) = [t for t in single["tasks"] if t["task_key"] == "train"]
    assert {k: v for k, v in tasks["train"].items() if k != "spark_python_task"} == {
        k: v for k, v in single_train.items() if k != "spark_python_task"
    }
    assert tasks["train"]["spark_python_task"]["python_file"] == single_train["spark_python_task"]["python_file"]
    assert multi["tasks"][1:] == [t for t in single["tasks"] if t["task_key"] != "train"]


def _trigger_kind(job) -> str | None:
    if "schedule" in job:
        assert "trigger" not in job
        return "schedule"
    if "trigger" in job:
        (kind,) = [k for k in job["trigger"] if k != "pause_status"]
        return kind
    return None


def test_file_arrival_jobs_watch_the_folders_their_tasks_empty(target):
    for key in ("featurize", "ingest_results"):
        job = target.resources["jobs"][key]
        watched = job["trigger"]["file_arrival"]["url"].rstrip("/")
        first = job["tasks"][0]["spark_python_task"]["parameters"][0]
        assert first == watched, f"{key}: the trigger watches {watched} but the task empties {first}"


@pytest.mark.skipif(
    not SCHEMA.is_file(), reason="the Databricks CLI's bundle schema is not in ../shared/bundle-schema/"
)
def test_each_file_against_the_databricks_cli_json_schema(bundle):
    import jsonschema
    import yaml

    schema = _python_patterns(json.loads(SCHEMA.read_text()))
    schema["additionalProperties"] = False  # the CLI's root takes unknown keys; a typo at the top is still a typo
    validator = jsonschema.Draft202012Validator(schema)
    for path in bundle.files:
        document = yaml.safe_load(path.read_text())
        errors = [_deepest(e) for e in validator.iter_errors(document)]
        assert not errors, f"{path.name}:\n" + "\n".join(errors)
    # and it does catch a misspelt field deep inside a job
    document = yaml.safe_load((BUNDLE / "resources" / "score.yml").read_text())
    document["resources"]["jobs"]["score"]["tasks"][0]["spark_python_task"]["python_fil"] = "x.py"
    assert any("python_fil" in _deepest(e) for e in validator.iter_errors(document))


def _python_patterns(node):
    """The schema's \\p{L} and \\p{N} classes in Python's re (which lacks them)."""
    if isinstance(node, dict):
        return {k: (_python_re(v) if k == "pattern" else _python_patterns(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def _python_re(pattern: str) -> str:
    return pattern.replace(r"[\p{L}\p{N}]", r"[^\W_]").replace(r"\p{L}", r"[^\W\d_]").replace(r"\p{N}", r"\d")


def _deepest(error) -> str:
    """oneOf errors name no branch: follow the branch that got furthest (the object, not the ${...} string)."""
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return f"  at {'/'.join(map(str, error.absolute_path))}: {error.message}"


def test_the_build_command_makes_a_wheel_with_the_package_and_its_data(bundle, tmp_path):
    artifact = bundle.config["artifacts"]["molpipe_wheel"]
    command = artifact["build"].split() + ["--no-build-isolation", "--quiet"]  # offline: the venv's setuptools
    command[0] = sys.executable
    command[command.index("--wheel-dir") + 1] = str(tmp_path)
    result = subprocess.run(
        command, check=False, cwd=BUNDLE / artifact["path"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("molpipe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"molpipe/cli/__init__.py", "molpipe/databricks/task_values.py", "molpipe/data/hiv.csv.gz"} <= names
    assert any(n.endswith("entry_points.txt") for n in names)
