"""What a scoring worker does with a chunk of pool rows: prediction, uncertainty, applicability domain and the
medicinal-chemistry filters (alerts, properties, the profile's verdict), all from one parse of each molecule.

Plain functions of row dicts (the columns :func:`molpipe.featurize.read.join_features` gives: ``inchikey``,
``smiles`` and stored feature columns, null where a molecule lacks a spec), so the Spark job, the throughput
benchmark's plain loop and the tests all run the same code. The model is loaded once per process, a version
(``models:/NAME/VERSION``, never an alias, so a promotion during a run cannot mix versions) from the local copy the
driver downloaded where the workers share its machine, else from the registry; the training-set index once per
process from its bytes.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from rdkit import Chem

from molpipe.chem.filters import PROPERTIES, Assessment, Screen
from molpipe.featurize.domain import FINGERPRINT, TrainingIndex, bits_of, on_bits
from molpipe.featurize.read import row_features
from molpipe.models.predictor import Predictor, load_model_folder
from molpipe.registry.reference import PinnedModel
from molpipe.score.acquisition import Acquirer

_lock = threading.Lock()
_predictors: dict[tuple[str, str], Predictor] = {}  # by (registry, models:/NAME/VERSION): homes reuse names
_indexes: dict[int, TrainingIndex] = {}

_COUNTS = ("hbd", "hba", "rotatable_bonds", "formal_charge", "heavy_atoms")  # the integer properties
# what the filters give per molecule: candidates' columns of the same names (null where the model failed)
FILTER_SCHEMA = pa.schema(
    [
        ("alerts", pa.list_(pa.string())),
        *((name, pa.int32() if name in _COUNTS else pa.float64()) for name in PROPERTIES),
        ("ro5_violations", pa.int32()),
        ("passes_filters", pa.bool_()),
        ("filter_reasons", pa.list_(pa.string())),
    ]
)
_NO_FILTERS = (None,) * len(FILTER_SCHEMA)
# what ScoreChunk returns per molecule, in this order
SCORED_SCHEMA = pa.schema(
    [
        ("inchikey", pa.string()),
        ("prediction", pa.float64()),
        ("uncertainty", pa.float64()),
        ("prediction_lower", pa.float64()),  # the conformal interval at the run's coverage (regression models)
        ("prediction_upper", pa.float64()),
        ("ad_similarity", pa.float64()),
        ("error", pa.string()),
        *FILTER_SCHEMA,
    ]
)
_FAILED = (None,) * 4  # prediction, uncertainty and the interval of a molecule the model failed on
# what ScoreBatch returns: the scores with the pool row's SMILES and scaffold and the acquisition score
STAGED_SCHEMA = pa.schema(
    [
        SCORED_SCHEMA.field("inchikey"),
        ("smiles", pa.string()),
        ("scaffold", pa.string()),
        *(field for field in SCORED_SCHEMA if field.name != "inchikey"),
        ("acquisition_score", pa.float64()),
    ]
)


def filter_values(assessment: Assessment) -> tuple:
    """An assessment as the values of :data:`FILTER_SCHEMA`."""
    values = [
        None if value != value else int(value) if name in _COUNTS else value
        for name, value in assessment.properties.items()
    ]
    return (assessment.alerts, *values, assessment.ro5_violations, assessment.passes, assessment.reasons)


def arrow_rows(batch) -> list[dict]:
    """A record batch as row dicts whose list columns are numpy slices of the batch's buffers: ``to_pylist``
    would box every float of a 2048-bit fingerprint into a Python object (seconds per batch, under the GIL)."""
    columns = {}
    for name, column in zip(batch.schema.names, batch.columns):
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            values = column.flatten().to_numpy(zero_copy_only=False)
            offsets = column.offsets.to_numpy() - column.offsets[0].as_py()
            valid = column.is_valid().to_numpy(zero_copy_only=False)
            columns[name] = [values[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(column))]
        else:
            columns[name] = column.to_pylist()
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


def load_predictor(model: PinnedModel) -> Predictor:
    """The model's :class:`~molpipe.models.predictor.Predictor`, loaded once per process: from ``model.folder`` if
    given, else downloaded from the registry (an executor of a cluster, which cannot see the driver's files)."""
    key = (model.registry_uri, model.uri)
    with _lock:
        if key not in _predictors:
            if model.folder:
                _predictors[key] = load_model_folder(model.folder)
            else:
                with tempfile.TemporaryDirectory(prefix="molpipe-model-") as folder:
                    _predictors[key] = load_model_folder(model.download(Path(folder)).folder)
        return _predictors[key]


def training_index(source: bytes | str) -> TrainingIndex:
    """The index from its bytes, or from a file of them (what pool workers get: a path pickles in no time)."""
    key = hash(source)
    with _lock:
        if key not in _indexes:
            _indexes.clear()  # one scoring run at a time per process
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            _indexes[key] = TrainingIndex.from_bytes(data)
        return _indexes[key]


# a molecule the model predicts without a structure RDKit parses (a model on stored features only)
_UNPARSED = (None,) * (len(FILTER_SCHEMA) - 2) + (False, ["unparsable"])


@dataclass(frozen=True)
class ScoreChunk:
    """Picklable: what :func:`molpipe.runtime.parallel.map_chunks` runs on each chunk of rows."""

    model: PinnedModel
    index: bytes | str  # TrainingIndex.to_bytes() of the model's training set, or a local file holding them
    label: int  # which of the model's labels is scored
    uncertainty: str
    samples: int
    screen: Screen | None  # the alerts, properties and filter verdict of every molecule scored; None: not measured
    seed: int = 0
    coverage: float = 0.9  # of the interval (the run's score.coverage)
    torch_threads: int = 0  # >0: cap torch's threads (one per worker process when a pool shares the cores)

    def __call__(self, rows: list[dict]) -> list[tuple]:
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        predictor = load_predictor(self.model)
        shared = FINGERPRINT in predictor.featurizers  # the model reads the domain's own fingerprint
        out: list[tuple] = [None] * len(rows)  # type: ignore[list-item]
        ready, features, bits, filters = [], [], [], []
        for i, row in enumerate(rows):
            try:  # one parse per molecule, for the features computed here, the domain and the filters
                mol = Chem.MolFromSmiles(row["smiles"]) if row["smiles"] else None
                fingerprint = FINGERPRINT.compute(mol) if mol is not None else None
                given = row_features(row, predictor.featurizers)
                if shared and fingerprint is not None and given.get(FINGERPRINT.name) is None:
                    given[FINGERPRINT.name] = fingerprint
                features.append(predictor.complete(given, mol))
                bits.append(on_bits(None) if fingerprint is None else bits_of(fingerprint))
                if self.screen is None:
                    filters.append(_NO_FILTERS)
                else:
                    filters.append(_UNPARSED if mol is None else filter_values(self.screen(mol)))
                ready.append(i)
            except Exception as exc:  # one molecule's failure is its row's error, never the batch's
                out[i] = (row["inchikey"], *_FAILED, None, f"{type(exc).__name__}: {exc}", *_NO_FILTERS)
        if ready:
            mean, std = predictor.predict_features(features, self.uncertainty, self.samples, seed=self.seed)
            # the model's training split, the molecules its intervals measure the distance from: one similarity per
            # molecule serves the domain and the interval
            similarity = training_index(self.index).max_similarity(bits)
            lower, upper = predictor.interval(mean, std, self.coverage, similarity)
            for j, i in enumerate(ready):
                value, spread = float(mean[j, self.label]), float(std[j, self.label])
                if not np.isfinite(value):
                    error = "model returned a non-finite prediction"
                    out[i] = (rows[i]["inchikey"], *_FAILED, None, error, *_NO_FILTERS)
                    continue
                bounds = (float(lower[j, self.label]), float(upper[j, self.label]))
                out[i] = (
                    rows[i]["inchikey"],
                    value,
                    spread if np.isfinite(spread) else None,
                    *(bound if not np.isnan(bound) else None for bound in bounds),
                    float(similarity[j]),
                    None,
                    *filters[j],
                )
        return out


@dataclass(frozen=True)
class ScoreBatch:
    """A worker's Arrow task: a record batch of pool rows (``inchikey``, ``smiles``, ``scaffold``, feature columns)
    -> a record batch of :data:`STAGED_SCHEMA` (acquisition score null where the model failed on a molecule)."""

    chunk: ScoreChunk
    acquisition: Acquirer

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        scored = self.chunk(arrow_rows(batch.drop_columns(["scaffold"])))
        columns = {f.name: pa.array([row[i] for row in scored], f.type) for i, f in enumerate(SCORED_SCHEMA)}
        ok = columns["error"].is_null()
        mean = columns["prediction"].filter(ok).to_numpy(zero_copy_only=False)
        std = columns["uncertainty"].filter(ok).fill_null(np.nan).to_numpy(zero_copy_only=False)
        values = np.full(len(scored), np.nan)
        valid = ok.to_numpy(zero_copy_only=False)
        values[valid] = self.acquisition(mean, std, columns["inchikey"].filter(ok).to_pylist())
        given = {"smiles": batch.column("smiles"), "scaffold": batch.column("scaffold")}
        given["acquisition_score"] = pa.array(values, pa.float64(), mask=~valid)
        return pa.RecordBatch.from_arrays(
            [columns[f.name] if f.name in columns else given[f.name] for f in STAGED_SCHEMA], schema=STAGED_SCHEMA
        )
