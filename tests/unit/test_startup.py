"""What a job's start-up relies on: the driver plans a scoring run without torch, the workers predict without
MLflow, and the worker pool starts early without ever failing the job it was started for."""

import gc
import json
import os
import pickle
import subprocess
import sys
import threading

from molpipe.config import load_settings
from molpipe.runtime.engine import udf_workers
from molpipe.runtime.parallel import _pool, shutdown_pools, warm


def _modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has imported after running ``code``."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_scoring_driver_reads_its_model_without_torch(tmp_path):
    """The driver only plans: which featurizers to join, how many ensemble members. Reading that from the model's
    configuration must not import torch (1.3-1.9 s of every run's start, and its memory in the driver)."""
    config = {
        "model": "gnn",
        "model_params": {"descriptors": True},
        "task": {"labels": ["y"], "kind": "regression"},
        "weights": ["model-0.pt", "model-1.pt"],
        "standardize": {},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    modules = _modules_after(
        "import molpipe.cli, molpipe.score.job\n"
        "from molpipe.models.predictor import ModelFolder\n"
        f"folder = ModelFolder.read({str(tmp_path)!r})\n"
        "assert [f.name for f in folder.featurizers] == ['graph', 'rdkit2d'] and len(folder.weights) == 2"
    )
    assert "torch" not in modules and "torch_geometric" not in modules


def test_a_scoring_worker_needs_no_mlflow():
    """What the worker pool's forkserver preloads for scoring imports torch but not MLflow (2 s, in every pool)."""
    modules = _modules_after("import molpipe.score.batch, molpipe.models.networks")
    assert "torch" in modules and "mlflow" not in modules


def test_models_pickled_under_the_old_pyfunc_paths_still_load():
    """Registered models pickled their pyfunc by the module it lived in: ``molpipe.predict``, then
    ``molpipe.pyfunc``; both still find it."""
    from molpipe.registry.pyfunc import MolpipePyfunc

    for module in ("molpipe.predict", "molpipe.pyfunc"):
        assert pickle.loads(f"c{module}\nMolpipePyfunc\n.".encode()) is MolpipePyfunc


def test_a_pool_shut_down_before_its_workers_started_fails_nothing(monkeypatch):
    """A job can finish before the pool it started early has all its workers (a tiny pool): shutting the pool down
    then must not raise in the thread still starting them."""
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    thread = warm(None, 2)
    shutdown_pools()
    thread.join(timeout=60)
    assert not thread.is_alive() and failures == []
    assert warm(None, 1) is None  # in-line: no pool, no thread


def test_udf_workers_are_known_before_the_engine_starts(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    settings = load_settings().replace(spark_remote="", workers=0)
    assert udf_workers(settings) == (os.cpu_count() or 1)  # embedded Sail: every core
    assert udf_workers(settings.replace(workers=3)) == 3
    assert udf_workers(settings.replace(spark_remote="sc://elsewhere:15002")) == 1  # the remote engine's workers
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    assert udf_workers(settings) == 1


def test_only_a_forkserver_freezes_and_skips_its_teardown():
    """The forkserver's last preload freezes its heap and ends it without the interpreter's teardown once the job is
    gone. Imported anywhere else it must change nothing, least of all how a process exits (a test run's status)."""
    script = "import molpipe.runtime.forkserver_freeze, gc, sys; assert gc.get_freeze_count() == 0; sys.exit(3)"
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 3
    try:  # a worker forked from the forkserver starts with the heap its forkserver froze
        assert _pool(2, ["molpipe.chem.standardize"]).submit(gc.get_freeze_count).result() > 0
    finally:
        shutdown_pools()
