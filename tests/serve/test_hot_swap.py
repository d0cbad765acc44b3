"""The alias moves (promote, rollback) while requests run: every request succeeds, each names the version that
answered it, and the service ends on the version the alias points to."""

from __future__ import annotations

import threading
import time

import httpx2
import mlflow
import pytest

from molpipe.config import ServeOptions
from molpipe.registry import lifecycle
from molpipe.registry.lifecycle import HISTORY_TAG
from molpipe.serve.app import create_app

from .helpers import ASPIRIN, uvicorn_server

pytestmark = pytest.mark.serve


def wait_for(condition, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "process-pool"])
def test_promote_and_rollback_swap_the_model_without_a_failed_request(registry, workers):
    app = create_app(f"{registry.name}@champion", ServeOptions(workers=workers, poll_s=0.2), environ={})
    answers: list[tuple[str, float]] = []  # (version, prediction) in the order the answers came
    failures: list[str] = []
    stop = threading.Event()

    def client_loop(url: str, batch: bool) -> None:
        with httpx2.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                try:
                    if batch:
                        response = client.post("/predict/batch", json={"smiles": [ASPIRIN, "CCO", "C1CC"]})
                        body = response.json()
                        prediction = body["results"][0]["prediction"] if response.status_code == 200 else None
                    else:
                        response = client.post("/predict", json={"smiles": ASPIRIN})
                        body = response.json()
                        prediction = body.get("prediction")
                except httpx2.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200 or response.headers["x-model-version"] != body["version"]:
                    failures.append(f"{response.status_code}: {response.text}")
                else:
                    answers.append((body["version"], prediction))

    try:
        with uvicorn_server(app) as url:
            threads = [threading.Thread(target=client_loop, args=(url, i == 2)) for i in range(3)]
            for thread in threads:
                thread.start()
            try:
                wait_for(lambda: len(answers) >= 5)
                assert lifecycle.promote(registry.name, force=True).champion == registry.challenger
                wait_for(lambda: answers[-1][0] == registry.challenger)
                n_before_rollback = len(answers)
                assert lifecycle.rollback(registry.name).champion == registry.champion
                wait_for(lambda: len(answers) > n_before_rollback and answers[-1][0] == registry.champion)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(60)
            metrics = httpx2.get(f"{url}/metrics").text
    finally:  # leave the registry as the other tests expect it: champion v1, challenger v2
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(registry.name, "champion", registry.champion)
        client.set_registered_model_alias(registry.name, "challenger", registry.challenger)
        client.set_registered_model_tag(registry.name, HISTORY_TAG, "[]")

    assert not failures, failures[:5]
    versions = [version for version, _ in answers]
    assert versions[0] == registry.champion and registry.challenger in versions and versions[-1] == registry.champion
    by_version: dict[str, set[float]] = {}
    for version, prediction in answers:
        by_version.setdefault(version, set()).add(round(prediction, 6))
    # each version always gives the same number, and the two versions differ: the model itself was swapped
    assert all(len(values) == 1 for values in by_version.values()), by_version
    assert by_version[registry.champion] != by_version[registry.challenger]
    assert "molpipe_serve_model_swaps_total 2.0" in metrics
