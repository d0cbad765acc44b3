"""Pieces of the service without a model: references, rows from a predictor, the request envelope, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging

import pandas as pd
import pytest

from molpipe.registry.reference import ModelRef
from molpipe.serve.logs import JsonFormatter
from molpipe.serve.metrics import ServeMetrics
from molpipe.serve.middleware import RequestEnvelope
from molpipe.serve.runner import predict_rows

pytestmark = pytest.mark.serve


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hiv_gnn@champion", ModelRef("hiv_gnn", "champion")),
        ("hiv_gnn", ModelRef("hiv_gnn", "champion")),
        ("hiv_gnn/3", ModelRef("hiv_gnn", None, "3")),
        ("models:/hiv_gnn@challenger", ModelRef("hiv_gnn", "challenger")),
        ("main.molpipe.hiv_gnn@champion", ModelRef("main.molpipe.hiv_gnn", "champion")),
    ],
)
def test_model_reference(text, expected):
    assert ModelRef.parse(text) == expected


@pytest.mark.parametrize("text", ["", "hiv gnn", "hiv@", "hiv/x", "../etc/passwd", "runs:/abc/model"])
def test_bad_model_reference(text):
    with pytest.raises(ValueError, match="expected NAME@alias"):
        ModelRef.parse(text)


class FlakyPredictor:
    """Breaks on a whole batch that contains 'boom', like a model that chokes on one molecule."""

    class task:
        labels = ("a", "b")

    def predict(self, smiles):
        if "boom" in smiles:
            raise RuntimeError("tensor shape mismatch")
        return pd.DataFrame(
            {
                "smiles": smiles,
                "standardized_smiles": smiles,
                "inchikey": "K",
                "valid": True,
                "error": None,
                "prediction": 0.5,
                "prediction_a": 0.5,
                "prediction_b": float("nan"),
                "prediction_lower_a": 0.1,
                "prediction_upper_a": 0.9,
                "prediction_lower_b": float("nan"),  # a probability, or a model trained before calibration
                "prediction_upper_b": float("nan"),
            }
        )


def test_a_model_failure_becomes_that_molecules_error():
    rows = predict_rows(FlakyPredictor(), ["CCO", "boom", "CCN"])
    assert [r["valid"] for r in rows] == [True, False, True]
    assert rows[1]["error"] == "model_error: RuntimeError: tensor shape mismatch"
    assert rows[0]["predictions"] == {"a": 0.5, "b": None}  # NaN is no JSON number
    assert rows[0]["intervals"] == {"a": [0.1, 0.9], "b": None} and rows[1]["intervals"] == {}


def envelope(max_body_bytes=100, timeout_s=0.2):
    async def app(scope, receive, send):
        message = await receive()
        body = json.dumps({"echo": len(message["body"])}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return RequestEnvelope(app, ServeMetrics(), max_body_bytes, timeout_s, log_smiles=False, routes={"/predict"})


def call(app, messages, headers=()):
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that stops sending

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"]), json.loads(sent[1]["body"])


def test_envelope_passes_a_body_within_limits_and_tags_the_response():
    status, headers, body = call(
        envelope(),
        [{"type": "http.request", "body": b"x" * 60, "more_body": True}, {"type": "http.request", "body": b"x" * 40}],
    )
    assert (status, body) == (200, {"echo": 100}) and len(headers[b"x-request-id"]) == 32


def test_envelope_rejects_a_declared_or_streamed_oversized_body():
    status, _, body = call(envelope(), [], headers=[(b"content-length", b"101")])
    assert status == 413 and "101 bytes is over the limit of 100" in body["detail"]
    chunks = [{"type": "http.request", "body": b"x" * 60, "more_body": True}] * 2  # chunked, no length given
    status, _, body = call(envelope(), chunks)
    assert status == 413 and "over the limit of 100 bytes" in body["detail"]


def test_envelope_times_out_a_trickling_body_with_408():
    status, _, body = call(envelope(), [{"type": "http.request", "body": b"x", "more_body": True}])
    assert status == 408 and "serve.timeout_s" in body["detail"]


def test_envelope_replaces_an_unsafe_request_id():
    _, headers, _ = call(envelope(), [{"type": "http.request", "body": b""}], headers=[(b"x-request-id", b"a\nb")])
    assert headers[b"x-request-id"] != b"a\nb"
    _, headers, _ = call(envelope(), [{"type": "http.request", "body": b""}], headers=[(b"x-request-id", b"req-7")])
    assert headers[b"x-request-id"] == b"req-7"


def test_json_log_lines():
    record = logging.LogRecord("molpipe.serve", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"request_id": "r1", "status": 200}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["level"] == "info" and line["request_id"] == "r1"
    assert line["ts"].endswith("+00:00")


def test_serve_settings_from_the_environment():
    from molpipe.config import load_settings

    environ = {
        "MOLPIPE_SERVE__PORT": "9000",
        "MOLPIPE_SERVE__LOG_SMILES": "true",
        "MOLPIPE_SERVE__WORKERS": "0",
        "MOLPIPE_SERVE__CORS_ORIGINS": "https://app.example",
        "MOLPIPE_SERVE_TOKEN": "not a setting",
    }
    serve = load_settings(environ=environ).serve
    assert (serve.port, serve.log_smiles, serve.workers, serve.cors_origins) == (9000, True, 0, "https://app.example")
    assert (serve.host, serve.threads, serve.max_batch, serve.auth_token_env) == (
        "127.0.0.1",
        8,
        512,
        "MOLPIPE_SERVE_TOKEN",
    )
