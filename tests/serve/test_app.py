"""The REST API on a real registered model: happy path, every kind of bad input, auth, CORS, metrics, logs."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from molpipe.config import ServeOptions
from molpipe.serve.app import create_app

from .helpers import ASPIRIN, started, uvicorn_server

pytestmark = pytest.mark.serve
INLINE = ServeOptions(workers=1, poll_s=0)


@pytest.fixture(scope="module")
def client(registry):
    app = create_app(
        f"{registry.name}@champion",
        replace(INLINE, max_smiles_length=120, max_batch=4, max_body_bytes=4000),
        environ={},
    )
    with started(app) as client:
        yield client


def test_health_ready_and_openapi(client, registry):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    card = {"library": body.pop("library"), "split_id": body.pop("split_id"), "test_metrics": body.pop("test_metrics")}
    assert body | {"loaded_at": 0} == {
        "ready": True,
        "detail": None,
        "model": registry.name,
        "version": "1",
        "alias": "champion",
        "run_id": body["run_id"],
        "labels": ["HIV_active"],
        "loaded_at": 0,
    }
    assert (
        card["library"] == "hiv"
        and card["split_id"]
        and all(isinstance(v, float) for v in card["test_metrics"].values())
    )
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/health", "/ready", "/metrics"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["PredictRequest"]["properties"]["smiles"]["maxLength"] == 120
    assert client.get("/docs").status_code == 200


def test_predict_one_smiles_names_model_and_version(client, registry):
    import mlflow
    import pandas as pd

    response = client.post("/predict", json={"smiles": ASPIRIN}, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["smiles"]) == (registry.name, "1", ASPIRIN)
    assert body["inchikey"] == "BSYNRYMUTXBXSQ-UHFFFAOYSA-N" and body["standardized_smiles"] == ASPIRIN
    assert 0.0 <= body["prediction"] <= 1.0 and body["predictions"] == {"HIV_active": body["prediction"]}
    assert body["intervals"] == {"HIV_active": None}  # a probability has no conformal interval
    assert response.headers["x-request-id"] == "abc-123" and response.headers["x-model-version"] == "1"
    # the same number the registered pyfunc gives
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.name}/1")
    expected = pyfunc.predict(pd.DataFrame({"smiles": [ASPIRIN]}))["prediction"][0]
    assert math.isclose(body["prediction"], expected, rel_tol=1e-6)


def test_batch_gives_per_item_results_and_errors(client, registry):
    response = client.post("/predict/batch", json={"smiles": [ASPIRIN, "C1CC", "", "CCO.Cl"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["n"], body["n_valid"], body["n_invalid"]) == (
        registry.name,
        "1",
        4,
        2,
        2,
    )
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3] and [r["valid"] for r in results] == [True, False, False, True]
    assert results[1]["error"].startswith("unparsable") and results[1]["prediction"] is None
    assert results[2]["error"].startswith("empty")
    assert results[3]["standardized_smiles"] == "CCO" and 0 <= results[3]["prediction"] <= 1
    single = client.post("/predict", json={"smiles": ASPIRIN}).json()
    assert results[0]["prediction"] == pytest.approx(single["prediction"])


@pytest.mark.parametrize(
    "route, payload, status, detail",
    [
        ("/predict", {"smiles": "C1CC"}, 422, "unparsable: RDKit could not parse"),
        ("/predict", {"smiles": "CN(C)(C)(C)C"}, 422, "sanitization_failed"),
        ("/predict", {"smiles": ""}, 422, "smiles: must not be empty"),
        ("/predict", {"smiles": "   "}, 422, "smiles: must not be empty"),
        ("/predict", {"smiles": "C" * 121}, 422, "smiles: is longer than serve.max_smiles_length=120"),
        ("/predict", {"smiles": 5}, 422, "smiles: must be a string"),
        ("/predict", {"smiles": ["CCO"]}, 422, "smiles: must be a string"),
        ("/predict", {"smiles": None}, 422, "smiles: must be a string"),
        ("/predict", {}, 422, "smiles: is required"),
        ("/predict", {"smiles": "CCO", "smile": "x"}, 422, "smile: is not a known field"),
        ("/predict", ["CCO"], 422, "request body must be a JSON object"),
        ("/predict", "__import__('os').system('true')", 422, "request body must be a JSON object"),
        ("/predict/batch", {"smiles": []}, 422, "smiles: must hold at least one SMILES"),
        ("/predict/batch", {"smiles": ["C"] * 5}, 422, "smiles: holds 5 SMILES; the limit is serve.max_batch=4"),
        ("/predict/batch", {"smiles": "CCO"}, 422, "smiles: must be a list of SMILES strings"),
        ("/predict/batch", {"smiles": ["CCO", 7]}, 422, "smiles.1: must be a string"),
        ("/predict/batch", {"smiles": ["C" * 1000] * 4}, 413, "over the limit of 4,000 bytes"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, route, payload, status, detail):
    response = client.post(route, json=payload)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "content, content_type, detail",
    [
        (b'{"smiles": "CCO"', "application/json", "request body is not valid JSON"),
        (b"", "application/json", "request body must be a JSON object"),
        (b'{"smiles": "CCO"}', "text/plain", "send the body as JSON with Content-Type: application/json"),
        (b"\x80\x04\x95 pickle?", "application/octet-stream", "send the body as JSON"),
        (b'{"smiles": "\xff"}', "application/json", "error parsing the body"),  # not UTF-8: 400
        (b'{"smiles": "CCO"}' + b" " * 5000, "application/json", "over the limit of 4,000"),
    ],
)
def test_malformed_bodies_are_4xx(client, content, content_type, detail):
    response = client.post("/predict", content=content, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, response.text
    assert detail in response.json()["detail"]


def test_an_oversized_body_gets_its_413_on_a_connection_that_stays_open(registry):
    """The 413 comes before the body is read, but the client is still sending it: the server reads the rest and
    drops it, so the client gets its answer and can go on with the connection. Closing at once reset it (the
    kernel answers unread data with a reset): the client failed while sending, or before it could read the 413."""
    app = create_app(f"{registry.name}@champion", replace(INLINE, max_body_bytes=4000), environ={})
    body = b'{"smiles": "' + b"C" * (8 << 20) + b'"}'  # far more than the two sockets' buffers hold
    with uvicorn_server(app) as url, socket.create_connection(_address(url), timeout=60) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        reader = s.makefile("rb")
        head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        s.sendall(head.encode() + b"\r\n\r\n" + body)
        status, headers, answer = _response(reader)
        assert status == 413 and "over the limit of 4,000 bytes" in json.loads(answer)["detail"]
        assert headers.get("connection") != "close"
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(reader)[::2] == (200, b'{"status":"ok"}')


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def _response(reader) -> tuple[int, dict[str, str], bytes]:
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline().decode("latin-1").strip()) != "":
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, reader.read(int(headers["content-length"]))


def test_invalid_batch_items_do_not_run_the_model(client):
    response = client.post("/predict/batch", json={"smiles": ["C" * 121, "  "]})
    assert response.status_code == 200
    assert [r["error"].split(":")[0] for r in response.json()["results"]] == ["too_long", "empty"]


def test_metrics(client, registry):
    client.post("/predict", json={"smiles": "C1CC"})
    client.post("/predict", json={"smiles": ASPIRIN})
    text = client.get("/metrics").text
    assert 'molpipe_serve_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'molpipe_serve_requests_total{method="POST",route="/predict",status="422"}' in text
    assert 'molpipe_serve_request_duration_seconds_bucket{le="0.05",route="/predict"}' in text
    assert 'molpipe_serve_invalid_smiles_total{reason="unparsable"}' in text
    assert f'molpipe_serve_model_info{{alias="champion",model="{registry.name}",version="1"}} 1.0' in text
    assert "molpipe_serve_model_version 1.0" in text and "molpipe_serve_model_ready 1.0" in text


def test_request_log_is_json_without_smiles(client, caplog):
    from molpipe.serve.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="molpipe.serve"):
        client.post("/predict", json={"smiles": "CCOC(=O)C"}, headers={"X-Request-ID": "log-test-1"})
    record = next(r for r in caplog.records if getattr(r, "fields", {}).get("request_id") == "log-test-1")
    line = json.loads(JsonFormatter().format(record))
    assert {"ts", "level", "request_id", "route", "status", "latency_ms", "model", "version"} <= set(line)
    assert (line["route"], line["status"], line["version"], line["n_smiles"]) == ("/predict", 200, "1", 1)
    assert "CCOC(=O)C" not in json.dumps(line) and "smiles" not in line


def test_log_smiles_when_configured(registry, caplog):
    app = create_app(f"{registry.name}@champion", replace(INLINE, log_smiles=True), environ={})
    with started(app) as client, caplog.at_level(logging.INFO, logger="molpipe.serve"):
        client.post("/predict/batch", json={"smiles": ["CCOC(=O)C", "C1CC"]}, headers={"X-Request-ID": "log-test-2"})
    record = next(r for r in caplog.records if getattr(r, "fields", {}).get("request_id") == "log-test-2")
    assert record.fields["smiles"] == ["CCOC(=O)C", "C1CC"] and record.fields["n_invalid"] == 1


@pytest.mark.parametrize("source", ["env", "file"])
def test_bearer_auth_when_a_token_is_configured(registry, tmp_path, source):
    if source == "env":
        options, environ = replace(INLINE, auth_token_env="SERVE_TEST_TOKEN"), {"SERVE_TEST_TOKEN": "s3cret"}
    else:
        (tmp_path / "token").write_text("s3cret\n")
        options, environ = replace(INLINE, auth_token_file=str(tmp_path / "token")), {}
    with started(create_app(f"{registry.name}@champion", options, environ)) as client:
        assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
        missing = client.post("/predict", json={"smiles": "CCO"})
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert "missing bearer token" in missing.json()["detail"]
        wrong = client.post("/predict", json={"smiles": "CCO"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid bearer token"
        assert client.get("/metrics").status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert client.post("/predict", json={"smiles": "CCO"}, headers=good).status_code == 200
        assert client.post("/predict/batch", json={"smiles": ["CCO"]}, headers=good).status_code == 200
        assert client.get("/metrics", headers=good).status_code == 200
        spec = client.get("/openapi.json").json()
        assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_auth_is_off_without_a_token(client):
    assert client.post("/predict", json={"smiles": "CCO"}).status_code == 200
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_token_file_must_exist(registry, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        create_app(f"{registry.name}@champion", replace(INLINE, auth_token_file=str(tmp_path / "missing")))


def test_cors_is_off_by_default_and_on_for_listed_origins(client, registry):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/predict", headers=preflight).headers
    app = create_app(f"{registry.name}@champion", replace(INLINE, cors_origins="https://app.example"), environ={})
    with started(app) as cors:
        assert (
            cors.options("/predict", headers=preflight).headers["access-control-allow-origin"] == "https://app.example"
        )
        other = {**preflight, "Origin": "https://evil.example"}
        assert "access-control-allow-origin" not in cors.options("/predict", headers=other).headers


def test_slow_prediction_times_out_with_504_and_the_service_recovers(registry):
    import asyncio

    app = create_app(f"{registry.name}@champion", replace(INLINE, timeout_s=0.3), environ={})
    with started(app) as client:
        runner = app.state.store.current.runner
        fast = runner.predict

        async def slow(smiles):
            await asyncio.sleep(2)
            return await fast(smiles)

        runner.predict = slow
        response = client.post("/predict", json={"smiles": "CCO"})
        assert response.status_code == 504 and "serve.timeout_s" in response.json()["detail"]
        runner.predict = fast
        assert client.post("/predict", json={"smiles": "CCO"}).status_code == 200


def test_unknown_model_is_not_ready_and_predictions_are_503(registry):
    app = create_app("no_such_model@champion", INLINE, environ={})
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        for _ in range(100):
            if app.state.store.last_error:
                break
            time.sleep(0.1)
        ready = client.get("/ready")
        assert ready.status_code == 503 and "no_such_model" in ready.json()["detail"]
        response = client.post("/predict", json={"smiles": "CCO"})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
