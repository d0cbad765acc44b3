"""Where predictions run: threads in the server process give what one thread gives; a process pool shares a batch
between its workers, and a worker that dies costs no request."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from molpipe.config import ServeOptions
from molpipe.serve.app import create_app
from molpipe.serve.batching import BatchingRunner
from molpipe.serve.runner import PoolRunner

from .helpers import ASPIRIN, started, uvicorn_server

pytestmark = pytest.mark.serve


def test_pool_predicts_like_in_process_and_survives_a_killed_worker(registry, data_dir):
    import pandas as pd

    smiles = pd.read_csv(data_dir / "hiv_sample.csv")["smiles"].tolist()[:24]
    with started(create_app(f"{registry.name}@champion", ServeOptions(workers=1, poll_s=0), environ={})) as inline:
        expected = inline.post("/predict/batch", json={"smiles": smiles}).json()["results"]

    app = create_app(f"{registry.name}@champion", ServeOptions(workers=2, micro_batch=8, poll_s=0), environ={})
    with started(app) as client:
        batching = app.state.store.current.runner
        assert isinstance(batching, BatchingRunner) and batching.slots == 2
        runner = batching.inner
        assert isinstance(runner, PoolRunner) and len(runner.worker_pids()) == 2
        results = client.post("/predict/batch", json={"smiles": smiles}).json()["results"]
        assert [r["index"] for r in results] == list(range(24))
        for got, want in zip(results, expected):
            assert (got["valid"], got["error"], got["inchikey"]) == (want["valid"], want["error"], want["inchikey"])
            # batches of 8 and of 24 round differently in float32; the temperature (1/T on the logit) can magnify it
            assert got["prediction"] == pytest.approx(want["prediction"], rel=1e-5, nan_ok=True)

        killed = runner.worker_pids()[0]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while killed in runner.worker_pids():  # until the pool has noticed, and a request has replaced it
            response = client.post("/predict/batch", json={"smiles": smiles})
            assert response.status_code == 200, response.text
            assert response.json()["n_valid"] == sum(r["valid"] for r in expected)
            assert time.monotonic() < deadline, "the broken pool was never replaced"
        response = client.post("/predict", json={"smiles": ASPIRIN})
        assert response.status_code == 200 and response.json()["version"] == registry.champion


def test_threads_and_micro_batches_predict_what_one_thread_predicts(registry, data_dir):
    import pandas as pd

    smiles = pd.read_csv(data_dir / "hiv_sample.csv")["smiles"].tolist()[:40]
    answers = {}
    for threads, micro_batch in ((1, 1), (8, 1), (1, 64)):
        options = ServeOptions(workers=1, threads=threads, micro_batch=micro_batch, poll_s=0)
        app = create_app(f"{registry.name}@champion", options, environ={})
        # concurrent single requests, so that the threads really share the model (or the requests a call)
        with started(app) as client, ThreadPoolExecutor(8) as pool:
            bodies = pool.map(lambda s: client.post("/predict", json={"smiles": s}).json(), smiles)
            answers[threads, micro_batch] = [{k: v for k, v in b.items() if k != "request_id"} for b in bodies]
            runner = app.state.store.current.runner
        if micro_batch > 1:  # 8 clients, one prediction thread: requests that waited went together
            assert isinstance(runner, BatchingRunner) and runner.requests == len(smiles)
            assert runner.calls < runner.requests
    assert answers[8, 1] == answers[1, 1]
    for got, want in zip(answers[1, 64], answers[1, 1]):  # a batch may round the last bits differently
        assert {k: v for k, v in got.items() if "prediction" not in k} == {
            k: v for k, v in want.items() if "prediction" not in k
        }
        assert got.get("prediction") == pytest.approx(want.get("prediction"), rel=1e-5)


def test_a_ctrl_c_to_the_process_group_leaves_the_workers_to_the_server(registry, data_dir):
    """A terminal's Ctrl-C sends SIGINT to every process of the group, the prediction workers too. The server then
    finishes the requests in flight before it closes the pool, so a worker must not die of it first: one that did
    failed its request with a plain-text 500 (its KeyboardInterrupt came back as the request's exception)."""
    import httpx2
    import pandas as pd

    smiles = pd.read_csv(data_dir / "hiv_sample.csv")["smiles"].tolist()[:48]
    app = create_app(f"{registry.name}@champion", ServeOptions(workers=2, poll_s=0), environ={})
    with uvicorn_server(app) as url, httpx2.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(1) as pool:
        runner = app.state.store.current.runner
        assert isinstance(runner, PoolRunner)
        pids = runner.worker_pids()
        assert len(pids) == 2
        expected = client.post("/predict/batch", json={"smiles": smiles}).json()["n_valid"]
        in_flight = pool.submit(client.post, "/predict/batch", json={"smiles": smiles})
        time.sleep(0.2)  # the batch is being predicted
        for pid in pids:
            os.kill(pid, signal.SIGINT)
        response = in_flight.result()
        assert response.status_code == 200, response.text
        assert response.json()["n_valid"] == expected
        time.sleep(0.5)
        response = client.post("/predict/batch", json={"smiles": smiles})
        assert response.status_code == 200 and response.json()["n_valid"] == expected
        assert runner.worker_pids() == pids  # the same workers: none died, none had to be replaced
