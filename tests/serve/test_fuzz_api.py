"""The REST API fuzzed against its own OpenAPI description (schemathesis, derandomized): every operation, with the
bearer token off and on, gets schema-valid and schema-violating requests, and real molecules for the prediction
routes (random text is rarely a molecule, and the 200 answers must conform too). Every answer must be one the
OpenAPI documents (status code, content type, body schema, headers), never a 5xx: a schema-violating request is
refused with a 4xx, a schema-valid one accepted, except that a single SMILES may be refused (422) for its chemistry.
The model is loaded before the first request, so 503 (no model yet) would be a failure too."""

from __future__ import annotations

import csv
import os
from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from molpipe.config import ServeOptions
from molpipe.serve.app import create_app
from molpipe.serve.errors import REASONS

from .helpers import started

pytestmark = pytest.mark.serve
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # benchmarks/fuzz.py runs more cases
TOKEN = "fuzz-token"
# every operation of the OpenAPI (test_every_operation_is_fuzzed keeps the list whole)
OPERATIONS = ["POST /predict", "POST /predict/batch", "GET /health", "GET /ready", "GET /metrics"]


def real_smiles(data_dir) -> list[str]:
    with (data_dir / "hiv_sample.csv").open(encoding="utf-8") as f:
        return [row["smiles"] for row in csv.DictReader(f)][:200]


def requests_only(app):
    """``app`` for schemathesis's ASGI client, which runs an app's lifespan itself on its first request: the
    lifespan, which loads the model, is the test's own :func:`started`, so the client's events stop here."""

    async def asgi(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        while (kind := (await receive())["type"]) != "lifespan.shutdown":
            await send({"type": f"{kind}.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return asgi


def requests(operation, molecules: list[str]):
    """schemathesis's schema-valid and schema-violating requests for ``operation``, and for the prediction routes also
    requests of real molecules."""
    generated = [operation.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode]
    bodies = {
        "/predict": st.sampled_from(molecules).map(lambda s: {"smiles": s}),
        "/predict/batch": st.lists(st.sampled_from(molecules), min_size=1, max_size=8).map(lambda s: {"smiles": s}),
    }
    if operation.path in bodies:
        generated.append(bodies[operation.path].flatmap(lambda body: operation.as_strategy(body=body)))
    return st.one_of(generated)


@pytest.fixture(scope="module", params=["open", "bearer"])
def api(request, registry, data_dir):
    """(each operation's requests by label, the headers a client sends) for a running app whose model is loaded."""
    environ = {"FUZZ_SERVE_TOKEN": TOKEN} if request.param == "bearer" else {}
    options = replace(ServeOptions(workers=1, poll_s=0), max_batch=8, auth_token_env="FUZZ_SERVE_TOKEN")
    app = create_app(f"{registry.name}@champion", options, environ=environ)
    with started(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", requests_only(app))
        operations = {op.ok().label: op.ok() for op in schema.get_all_operations()}
        molecules = real_smiles(data_dir)
        headers = {"Authorization": f"Bearer {TOKEN}"} if environ else {}
        yield {label: requests(op, molecules) for label, op in operations.items()}, headers


def test_every_operation_is_fuzzed(api):
    assert sorted(api[0]) == sorted(OPERATIONS)


def refused_for_its_chemistry(ctx, response, case):
    """For one SMILES, positive_data_acceptance's stand-in: JSON Schema cannot say which strings are molecules, so a
    schema-valid SMILES is predicted (200) or refused with a chemistry reason (422), nothing else."""
    if case.meta.generation.mode.is_positive:
        assert response.status_code in (200, 422), response.status_code
        if response.status_code == 422:
            assert response.json()["reason"] in REASONS, response.json()


@pytest.mark.parametrize("label", OPERATIONS)
@settings(
    max_examples=150 * SCALE,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_request_is_answered_as_the_openapi_says(api, label, data):
    strategies, headers = api
    case = data.draw(strategies[label])
    if label == "POST /predict":
        case.call_and_validate(
            headers=dict(headers),
            excluded_checks=[positive_data_acceptance],
            additional_checks=[refused_for_its_chemistry],
        )
    else:
        case.call_and_validate(headers=dict(headers))
