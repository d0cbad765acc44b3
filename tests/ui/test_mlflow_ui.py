"""What a person sees in the MLflow UI on molpipe's store, rendered by headless Chromium (Debian's ``chromium``): the
link molpipe prints opens the model-training view of the experiment, its training run named for what ran, sorted by
the test metric, with the scoring runs kept out of that table."""

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import pytest

from molpipe.registry import tracking

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium to render the UI")


@pytest.fixture
def mlflow_ui(scored):
    """``mlflow ui`` on a copy of the session's scored home: its base URL and the training experiment's id."""
    catalog, _ = scored
    tracking.configure(catalog.settings)
    store = tracking.tracking_uri(catalog.settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow ui did not start"
                time.sleep(0.5)
        experiment = mlflow.get_experiment_by_name("molpipe-hiv-HIV_active")
        yield port, experiment.experiment_id
    finally:
        server.terminate()
        server.wait(timeout=30)


def rendered_text(chromium, url: str) -> str:
    """The page's text once its scripts have run (Chromium's virtual time runs them to completion)."""
    dom = chromium("--window-size=1500,900", "--virtual-time-budget=20000", "--dump-dom", url, timeout=120).stdout
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_the_printed_link_opens_the_training_runs_sorted_by_their_test_metric(mlflow_ui, chromium):
    port, experiment = mlflow_ui
    link = tracking.ui_link(experiment_id=experiment, sort_metric="test_roc_auc", ascending=False, port=port)
    text = rendered_text(chromium, link)
    assert "fp-mlp-random-seed0" in text and "Sort: test_roc_auc" in text, text[:2000]
    assert "1 matching run" in text and "score-hiv" not in text  # the two scoring runs are in their own experiment
    scoring = rendered_text(
        chromium, link.replace(f"/experiments/{experiment}/", f"/experiments/{_scoring_experiment(experiment)}/")
    )
    assert "score-hiv-hiv_mlp-v1" in scoring and "score-esol-hiv_mlp-v1" in scoring


def _scoring_experiment(training: str) -> str:
    return mlflow.get_experiment_by_name(f"{mlflow.get_experiment(training).name}-scoring").experiment_id
