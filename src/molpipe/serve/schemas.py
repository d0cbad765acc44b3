"""Request and response bodies. Requests are plain JSON checked by pydantic against the configured limits: no
field is ever evaluated, unpickled or used as a path."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from molpipe.config import ServeOptions

EXAMPLE = "CC(=O)Oc1ccccc1C(=O)O"


def request_models(options: ServeOptions) -> tuple[type[BaseModel], type[BaseModel]]:
    """(single, batch) request models with the limits of ``options``."""
    strict = ConfigDict(extra="forbid", str_strip_whitespace=True)
    single = create_model(
        "PredictRequest",
        __config__=strict,
        smiles=(
            Annotated[
                str,
                Field(
                    min_length=1,
                    max_length=options.max_smiles_length,
                    pattern=r"\S",  # stripped before the length checks: tells the OpenAPI a blank SMILES is refused
                    description="one SMILES",
                    examples=[EXAMPLE],
                ),
            ],
            ...,
        ),
    )
    batch = create_model(
        "BatchPredictRequest",
        __config__=strict,
        # items are checked one by one (an empty or overlong item is that item's error, not the batch's)
        smiles=(
            Annotated[
                list[str],
                Field(
                    min_length=1,
                    max_length=options.max_batch,
                    description=f"1 to {options.max_batch} SMILES",
                    examples=[[EXAMPLE, "CCO", "C1CC"]],
                ),
            ],
            ...,
        ),
    )
    return single, batch


class ModelServed(BaseModel):
    model: str = Field(description="registered model name")
    version: str = Field(description="registry version that answered")


class Prediction(ModelServed):
    smiles: str
    standardized_smiles: str = Field(description="canonical SMILES after standardization (the model's input)")
    inchikey: str
    prediction: float | None = Field(description="the first label's prediction (probability or value)")
    predictions: dict[str, float | None] = Field(description="label -> prediction")
    intervals: dict[str, list[float] | None] = Field(
        description="label -> [lower, upper]: a regression model's conformal interval at score.coverage (90 %); "
        "null for a probability"
    )


class BatchItem(BaseModel):
    index: int
    smiles: str
    valid: bool
    error: str | None = Field(description="why the SMILES could not be predicted, e.g. 'unparsable: …'")
    standardized_smiles: str | None
    inchikey: str | None
    prediction: float | None
    predictions: dict[str, float | None]
    intervals: dict[str, list[float] | None]


class BatchPrediction(ModelServed):
    n: int
    n_valid: int
    n_invalid: int
    results: list[BatchItem]


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    detail: str = Field(description="what was wrong, in words")
    request_id: str | None = None


class Problem(BaseModel):
    field: str = Field(description="the field, dotted (`smiles.1`); empty for the body as a whole")
    message: str
    type: str = Field(description="pydantic's error type, e.g. string_too_long, json_invalid")


class InvalidBody(ErrorBody):
    errors: list[Problem] = Field(description="each way the body fails the request model")


class InvalidSmiles(ErrorBody):
    reason: str = Field(description="unparsable, sanitization_failed, too_large, empty, too_long, …")
    model: str | None = None
    version: str | None = None


class Ready(BaseModel):
    model_config = ConfigDict(extra="allow")
    ready: bool
    detail: str | None = None


def describe(responses: dict[int, tuple[type[BaseModel], str]]) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` entries from (model, description) pairs."""
    return {code: {"model": model, "description": text} for code, (model, text) in responses.items()}
