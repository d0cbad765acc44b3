"""Per-batch transformers: the chemistry applied to Arrow record batches, with errors captured per row.

These are what the Spark UDFs call (:mod:`molpipe.featurize.job`), and they are plain functions of Arrow data, so
they are tested without Spark. The inner ``*_chunk`` functions take and return plain Python lists: they are what
crosses to worker processes (:mod:`molpipe.runtime.parallel`), so they stay small to pickle.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
from rdkit import Chem

from molpipe.chem.standardize import Rejected, standardize_structure
from molpipe.config import StandardizeOptions
from molpipe.featurize.registry import Featurizer
from molpipe.runtime.parallel import map_chunks

STANDARDIZED_FIELDS = [
    pa.field("inchikey", pa.string()),
    pa.field("smiles", pa.string()),
    pa.field("scaffold", pa.string()),
    pa.field("heavy_atoms", pa.int32()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
]

FEATURE_SCHEMA = pa.schema(
    [
        pa.field("inchikey", pa.string()),
        pa.field("featurizer", pa.string()),
        pa.field("spec", pa.string()),
        pa.field("values", pa.list_(pa.float32())),
        pa.field("edge_index", pa.list_(pa.int32())),
        pa.field("edge_attr", pa.list_(pa.float32())),
        pa.field("error", pa.string()),
    ]
)


def standardize_chunk(items: Sequence[tuple[str | None, str, str | None]], options: StandardizeOptions) -> list:
    """``(structure, structure_format, read_error)`` triples -> standardized rows. A row that already failed
    while being read keeps that failure and is not parsed."""
    rows = []
    for structure, fmt, read_error in items:
        if read_error:
            rows.append((None, None, None, None, read_error, None))
            continue
        outcome = standardize_structure(structure, fmt, options)
        if isinstance(outcome, Rejected):
            rows.append((None, None, None, None, outcome.reason.value, outcome.detail))
        else:
            rows.append((outcome.inchikey, outcome.smiles, outcome.scaffold, outcome.heavy_atoms, None, None))
    return rows


def standardize_batch(
    batch: pa.RecordBatch, options: StandardizeOptions, workers: int = 1, chunk_size: int = 64
) -> pa.RecordBatch:
    """Append the standardization columns to a batch of ``library_raw`` rows (``read_error_detail`` of rows
    that failed while being read becomes their ``detail``)."""
    items = list(
        zip(
            batch.column("structure").to_pylist(),
            batch.column("structure_format").to_pylist(),
            batch.column("read_error").to_pylist(),
        )
    )
    rows = map_chunks(_StandardizeTask(options), items, workers, chunk_size)
    details = batch.column("read_error_detail").to_pylist()
    rows = [row if row[5] is not None or row[4] is None else row[:5] + (details[i],) for i, row in enumerate(rows)]
    columns = list(zip(*rows)) if rows else [[] for _ in STANDARDIZED_FIELDS]
    out = batch
    for field, values in zip(STANDARDIZED_FIELDS, columns):
        out = out.append_column(field, pa.array(list(values), type=field.type))
    return out


class _StandardizeTask:
    """A picklable ``standardize_chunk`` bound to its options."""

    def __init__(self, options: StandardizeOptions):
        self.options = options

    def __call__(self, items):
        return standardize_chunk(items, self.options)


def featurize_chunk(items: Sequence[tuple[str, str, tuple[str, ...]]], featurizers: Sequence[Featurizer]) -> list:
    """``(inchikey, canonical smiles, specs wanted)`` -> one ``(inchikey, featurizer, spec, result, error)`` per
    wanted spec, where ``result`` is a vector or GraphArrays."""
    by_spec = {f.spec: f for f in featurizers}
    out = []
    for inchikey, smiles, specs in items:
        mol = Chem.MolFromSmiles(smiles)
        for spec in specs:
            featurizer = by_spec[spec]
            if mol is None:
                out.append((inchikey, featurizer.name, spec, None, f"cannot re-parse canonical SMILES {smiles!r}"))
                continue
            try:
                out.append((inchikey, featurizer.name, spec, featurizer.compute(mol), None))
            except Exception as exc:  # a featurizer bug or an exotic molecule: quarantined, never fatal
                out.append((inchikey, featurizer.name, spec, None, f"{featurizer.name}: {type(exc).__name__}: {exc}"))
    return out


class _FeaturizeTask:
    def __init__(self, featurizers: Sequence[Featurizer]):
        self.featurizers = list(featurizers)

    def __call__(self, items):
        return featurize_chunk(items, self.featurizers)


def featurize_batch(
    batch: pa.RecordBatch, featurizers: Sequence[Featurizer], workers: int = 1, chunk_size: int = 64
) -> pa.RecordBatch:
    """Rows ``(inchikey, smiles, specs)`` -> :data:`FEATURE_SCHEMA` rows, one per molecule and wanted spec."""
    items = [
        (inchikey, smiles, tuple(specs))
        for inchikey, smiles, specs in zip(
            batch.column("inchikey").to_pylist(), batch.column("smiles").to_pylist(), batch.column("specs").to_pylist()
        )
    ]
    rows = map_chunks(_FeaturizeTask(featurizers), items, workers, chunk_size)
    return feature_rows_to_arrow(rows)


def feature_rows_to_arrow(rows: list) -> pa.RecordBatch:
    values, edge_index, edge_attr = [], [], []
    for _, _, _, result, _ in rows:
        if result is None:
            values.append(None), edge_index.append(None), edge_attr.append(None)
        elif isinstance(result, np.ndarray):
            values.append(result), edge_index.append(None), edge_attr.append(None)
        else:  # GraphArrays
            (
                values.append(result.x.ravel()),
                edge_index.append(result.edge_index.ravel()),
                edge_attr.append(result.edge_attr.ravel()),
            )
    return pa.RecordBatch.from_arrays(
        [
            pa.array([r[0] for r in rows], pa.string()),
            pa.array([r[1] for r in rows], pa.string()),
            pa.array([r[2] for r in rows], pa.string()),
            _list_array(values, np.float32, pa.float32()),
            _list_array(edge_index, np.int32, pa.int32()),
            _list_array(edge_attr, np.float32, pa.float32()),
            pa.array([r[4] for r in rows], pa.string()),
        ],
        schema=FEATURE_SCHEMA,
    )


def _list_array(arrays: list, dtype, arrow_type: pa.DataType) -> pa.ListArray:
    """A list array built from one flat buffer (much faster than converting thousands of small arrays)."""
    lengths = np.array([0 if a is None else len(a) for a in arrays], dtype=np.int32)
    offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    present = [np.asarray(a, dtype=dtype) for a in arrays if a is not None]
    flat = np.concatenate(present) if present else np.zeros(0, dtype=dtype)
    mask = pa.array([a is None for a in arrays], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=arrow_type), mask=mask)


def iter_batches(batches: Iterator[pa.RecordBatch], fn, *args) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if batch.num_rows:
            yield fn(batch, *args)
