"""The routes' work and the error bodies without HTTP or a registered model: a stub store holds a stub runner."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

import pytest

from molpipe.config import ServeOptions
from molpipe.registry.reference import ModelRef
from molpipe.serve.app import create_app
from molpipe.serve.errors import item_error, problem, reason_of
from molpipe.serve.metrics import ServeMetrics
from molpipe.serve.middleware import RequestContext
from molpipe.serve.model_store import NotReady, ServedModel
from molpipe.serve.routes import Handlers
from molpipe.serve.runner_base import Runner

pytestmark = pytest.mark.serve
OPTIONS = ServeOptions(max_smiles_length=10, timeout_s=0.2)


class Stub(Runner):
    """Valid for any SMILES but ``C1CC`` (unparsable); records what the model was asked; ``delay`` s per call."""

    labels = ("y", "z")

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[list[str]] = []

    async def predict(self, smiles):
        self.calls.append(list(smiles))
        await asyncio.sleep(self.delay)
        return [self._row(s) for s in smiles]

    @staticmethod
    def _row(smiles: str) -> dict:
        if smiles == "C1CC":
            return {
                "smiles": smiles,
                "standardized_smiles": None,
                "inchikey": None,
                "valid": False,
                "error": "unparsable: RDKit could not parse the smiles",
                "predictions": {},
                "intervals": {},
            }
        return {
            "smiles": smiles,
            "standardized_smiles": smiles,
            "inchikey": "K",
            "valid": True,
            "error": None,
            "predictions": {"y": 0.25, "z": 0.5},
            "intervals": {"y": [0.1, 0.4], "z": None},
        }

    def close(self) -> None:
        pass


class StubStore:
    """What the handlers use of a :class:`~molpipe.serve.model_store.ModelStore`."""

    ref = ModelRef("m", "champion")

    def __init__(self, runner: Runner | None, last_error: str | None = None):
        self.current = ServedModel("m", "3", "champion", None, runner, "") if runner else None
        self.last_error = last_error

    @contextmanager
    def lease(self):
        if self.current is None:
            raise NotReady(self.last_error or f"model {self.ref} is still loading")
        yield self.current


def handlers(runner: Runner | None, last_error: str | None = None, options: ServeOptions = OPTIONS) -> Handlers:
    return Handlers(store=StubStore(runner, last_error), metrics=ServeMetrics(), options=options)


def sample(work: Handlers, name: str, **labels: str) -> float | None:
    return work.metrics.registry.get_sample_value(name, labels)


def body(response) -> dict:
    return json.loads(response.body)


def test_predict_names_the_model_and_fills_the_context():
    work, context = handlers(Stub()), RequestContext("r1")
    answer = asyncio.run(work.predict("CCO", context=context))
    assert answer == {
        "smiles": "CCO",
        "standardized_smiles": "CCO",
        "inchikey": "K",
        "prediction": 0.25,
        "predictions": {"y": 0.25, "z": 0.5},
        "intervals": {"y": [0.1, 0.4], "z": None},
        "model": "m",
        "version": "3",
    }
    assert (context.model, context.version, context.n_smiles, context.n_invalid, context.smiles) == ("m", "3", 1, 0, [])
    assert sample(work, "molpipe_serve_molecules_total", outcome="valid") == 1


def test_an_invalid_smiles_is_422_with_its_reason():
    work, context = handlers(Stub()), RequestContext("r2")
    response = asyncio.run(work.predict("C1CC", context=context))
    assert response.status_code == 422
    assert body(response) == {
        "detail": "unparsable: RDKit could not parse the smiles",
        "request_id": "r2",
        "reason": "unparsable",
        "model": "m",
        "version": "3",
    }
    assert context.n_invalid == 1 and sample(work, "molpipe_serve_invalid_smiles_total", reason="unparsable") == 1


def test_batch_items_that_fail_the_checks_never_reach_the_model():
    runner = Stub()
    work, context = handlers(runner), RequestContext("r3")
    answer = asyncio.run(work.predict_batch(["CCO", "", "C" * 11, "C1CC"], context=context))
    assert runner.calls == [["CCO", "C1CC"]]
    assert (answer["n"], answer["n_valid"], answer["n_invalid"], answer["version"]) == (4, 1, 3, "3")
    errors = [r["error"] and r["error"].split(":")[0] for r in answer["results"]]
    assert errors == [None, "empty", "too_long", "unparsable"]
    assert [r["prediction"] for r in answer["results"]] == [0.25, None, None, None]
    assert (context.n_smiles, context.n_invalid, context.version) == (4, 3, "3")


def test_a_batch_with_nothing_to_predict_still_names_the_model_or_is_503():
    runner = Stub()
    answer = asyncio.run(handlers(runner).predict_batch([""], context=RequestContext("r4")))
    assert runner.calls == [] and answer["version"] == "3" and answer["n_invalid"] == 1
    response = asyncio.run(handlers(None).predict_batch([""], context=RequestContext("r5")))
    assert response.status_code == 503 and body(response)["detail"] == "no model loaded yet: model is loading"


def test_no_model_yet_is_503_with_retry_after_and_not_ready():
    work = handlers(None, last_error="loading m@champion failed: boom")
    response = asyncio.run(work.predict("CCO", context=RequestContext("r6")))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert body(response)["detail"] == "no model loaded yet: loading m@champion failed: boom"
    ready = work.ready()
    assert ready.status_code == 503 and body(ready) == {"ready": False, "detail": "loading m@champion failed: boom"}
    assert body(handlers(None).ready())["detail"] == "model m@champion is loading"
    assert handlers(Stub()).ready() | {"loaded_at": 0} == {
        "ready": True,
        "model": "m",
        "version": "3",
        "alias": "champion",
        "run_id": None,
        "labels": ["y", "z"],
        "loaded_at": 0,
    }


def test_a_prediction_over_the_timeout_is_504():
    response = asyncio.run(handlers(Stub(delay=1.0)).predict("CCO", context=RequestContext("r7")))
    assert response.status_code == 504
    assert body(response) == {"detail": "prediction did not finish within 0.2 s (serve.timeout_s)", "request_id": "r7"}


def test_smiles_are_kept_for_the_log_only_when_asked():
    quiet, logged = RequestContext("r8"), RequestContext("r9")
    asyncio.run(handlers(Stub()).predict_batch(["CCO", "C1CC"], context=quiet))
    asyncio.run(handlers(Stub(), options=ServeOptions(log_smiles=True)).predict_batch(["CCO", "C1CC"], context=logged))
    assert (quiet.smiles, logged.smiles) == ([], ["CCO", "C1CC"])


def test_item_errors_and_reasons():
    assert item_error("CCO", max_length=3) is None
    assert item_error("", max_length=3) == "empty: no SMILES given"
    assert item_error("C" * 1200, max_length=1000) == "too_long: 1,200 characters > serve.max_smiles_length=1,000"
    reasons = {"unparsable: x": "unparsable", "too_long: y": "too_long", "worker_crashed: z": "worker_crashed"}
    assert {error: reason_of(error) for error in reasons} == reasons
    assert reason_of("boom: a client's own words") == reason_of(None) == "other"  # a bounded set of metric labels


@pytest.mark.parametrize(
    "error, content_type, expected",
    [
        (
            {"type": "string_too_long", "loc": ("body", "smiles")},
            "application/json",
            ("smiles", "is longer than serve.max_smiles_length=10 characters"),
        ),
        (
            {"type": "too_long", "loc": ("body", "smiles"), "ctx": {"actual_length": 600}},
            "application/json",
            ("smiles", "holds 600 SMILES; the limit is serve.max_batch=512"),
        ),
        ({"type": "string_type", "loc": ("body", "smiles", 1)}, "application/json", ("smiles.1", "must be a string")),
        (
            {"type": "json_invalid", "loc": ("body", 16), "ctx": {"error": "EOF"}},
            "application/json",
            ("", "request body is not valid JSON (EOF)"),
        ),
        (
            {"type": "missing", "loc": ("body",)},
            "application/json",
            ("", 'request body must be a JSON object such as {"smiles": "CCO"}'),
        ),
        (
            {"type": "missing", "loc": ("body",)},
            "text/plain",
            ("", "send the body as JSON with Content-Type: application/json (got 'text/plain')"),
        ),
        (
            {"type": "something_new", "loc": ("body", "smiles"), "msg": "Value error"},
            "application/json",
            ("smiles", "Value error"),
        ),
    ],
)
def test_validation_problems_in_words(error, content_type, expected):
    found = problem(error, options=OPTIONS, content_type=content_type)
    assert (found["field"], found["message"], found["type"]) == (*expected, error["type"])


def test_openapi_lists_each_routes_status_codes():
    spec = create_app("m@champion", OPTIONS, environ={}).openapi()
    codes = {
        (path, method): sorted(op["responses"]) for path, ops in spec["paths"].items() for method, op in ops.items()
    }
    prediction = ["200", "400", "401", "408", "413", "422", "503", "504"]
    assert codes == {
        ("/predict", "post"): prediction,
        ("/predict/batch", "post"): prediction,
        ("/health", "get"): ["200"],
        ("/ready", "get"): ["200", "503"],
        ("/metrics", "get"): ["200", "401"],
    }
    assert spec["paths"]["/predict"]["post"]["operationId"] == "predict_predict_post"
