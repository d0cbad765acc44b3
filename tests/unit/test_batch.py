"""The per-batch transformers the UDFs run, on Arrow batches of real rows, in-line and through the process pool."""

import numpy as np
import pyarrow as pa
from rdkit import Chem

from molpipe.config import StandardizeOptions
from molpipe.featurize import parse_featurizers
from molpipe.featurize.batch import FEATURE_SCHEMA, featurize_batch, standardize_batch
from molpipe.runtime.parallel import shutdown_pools


def raw_batch(structures, read_errors=None):
    n = len(structures)
    return pa.RecordBatch.from_pydict(
        {
            "source_row": list(range(1, n + 1)),
            "structure": structures,
            "structure_format": ["smiles"] * n,
            "read_error": read_errors or [None] * n,
            "read_error_detail": [None if not e else "detail of " + e for e in (read_errors or [None] * n)],
        }
    )


def test_standardize_batch_appends_outcome_columns():
    batch = raw_batch(["OCC", "C1CC", "CC", "CC(=O)[O-].[Na+]"], [None, None, "malformed_row", None])
    out = standardize_batch(batch, StandardizeOptions())
    assert out.num_rows == 4 and out.column("source_row").to_pylist() == [1, 2, 3, 4]
    assert out.column("smiles").to_pylist() == ["CCO", None, None, "CC(=O)O"]
    assert out.column("reason").to_pylist() == [None, "unparsable", "malformed_row", None]
    assert out.column("detail").to_pylist()[2] == "detail of malformed_row"  # read errors keep their detail


def test_featurize_batch_one_row_per_molecule_and_spec():
    featurizers = parse_featurizers("morgan:n_bits=64,graph")
    specs = [f.spec for f in featurizers]
    batch = pa.RecordBatch.from_pydict(
        {"inchikey": ["K1", "K2"], "smiles": ["CCO", "c1ccccc1"], "specs": [specs, specs[1:]]}
    )
    out = featurize_batch(batch, featurizers)
    assert out.schema == FEATURE_SCHEMA
    rows = out.to_pylist()
    assert [(r["inchikey"], r["featurizer"]) for r in rows] == [("K1", "morgan"), ("K1", "graph"), ("K2", "graph")]
    assert len(rows[0]["values"]) == 64 and rows[0]["edge_index"] is None
    assert len(rows[2]["edge_index"]) == 24 and all(r["error"] is None for r in rows)


def test_featurizer_failure_is_captured_per_molecule(monkeypatch):
    from molpipe.featurize.fingerprints import MaccsKeys

    def explode(self, mol):
        if mol.GetNumAtoms() == 6:
            raise RuntimeError("cannot handle rings today")
        return np.zeros(167, dtype=np.float32)

    monkeypatch.setattr(MaccsKeys, "compute", explode)
    featurizers = parse_featurizers("maccs")
    batch = pa.RecordBatch.from_pydict(
        {"inchikey": ["K1", "K2"], "smiles": ["CCO", "c1ccccc1"], "specs": [[featurizers[0].spec]] * 2}
    )
    rows = featurize_batch(batch, featurizers).to_pylist()
    assert rows[0]["error"] is None and rows[0]["values"] is not None
    assert rows[1]["values"] is None and rows[1]["error"] == "maccs: RuntimeError: cannot handle rings today"


def test_process_pool_gives_the_same_result_as_inline(data_dir):
    smiles = [line.split(",")[0] for line in (data_dir / "hiv_sample.csv").read_text().splitlines()[1:]]
    batch = raw_batch(smiles)
    try:
        pooled = standardize_batch(batch, StandardizeOptions(), workers=2, chunk_size=16)
    finally:
        shutdown_pools()
    assert pooled.equals(standardize_batch(batch, StandardizeOptions()))
    assert pooled.column("reason").to_pylist().count("sanitization_failed") == 7


def _fingerprint_sums(batch: pa.RecordBatch) -> pa.RecordBatch:
    sums = [float(np.sum(v)) if v is not None else None for v in batch.column("morgan").to_numpy(zero_copy_only=False)]
    return pa.RecordBatch.from_pydict({"inchikey": batch.column("inchikey"), "bits_on": sums})


def test_map_batches_sends_only_each_slice_and_keeps_order(data_dir):
    from molpipe.runtime.parallel import _ipc_bytes, map_batches

    (morgan,) = parse_featurizers("morgan")
    smiles = [line.split(",")[0] for line in (data_dir / "hiv_sample.csv").read_text().splitlines()[1:]]
    mols = [(s, Chem.MolFromSmiles(s)) for s in smiles]
    keys = [s for s, m in mols if m is not None]
    vectors = [morgan.compute(m) for _, m in mols if m is not None]
    batch = pa.RecordBatch.from_pydict(
        {"inchikey": keys, "morgan": pa.array([v.tolist() for v in vectors], pa.list_(pa.float32()))}
    )
    # a 16-row slice of the batch travels as 16 rows of fingerprints, not as the whole batch's buffers
    assert len(_ipc_bytes(batch.slice(0, 16))) < 16 * 2048 * 4 * 1.2 < batch.nbytes
    try:
        pooled = list(map_batches(_fingerprint_sums, [batch], workers=2, chunk_rows=16))
    finally:
        shutdown_pools()
    combined = pa.Table.from_batches(pooled)
    assert combined.column("inchikey").to_pylist() == keys
    assert combined.column("bits_on").to_pylist() == [float(v.sum()) for v in vectors]
    assert pa.Table.from_batches(map_batches(_fingerprint_sums, [batch], workers=1, chunk_rows=16)).equals(combined)


def test_map_batches_queues_the_next_batch_before_handing_on_results(data_dir):
    from molpipe.runtime.parallel import map_batches

    (morgan,) = parse_featurizers("morgan")
    smiles = [line.split(",")[0] for line in (data_dir / "hiv_sample.csv").read_text().splitlines()[1:61]]
    vectors = [morgan.compute(m) for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None]
    table = pa.table(
        {
            "inchikey": [str(i) for i in range(len(vectors))],
            "morgan": pa.array([v.tolist() for v in vectors], pa.list_(pa.float32())),
        }
    )
    batches = [*table.to_batches(max_chunksize=20), pa.RecordBatch.from_pylist([], table.schema)]  # an empty one last
    pulled = []

    def stream():
        for i, batch in enumerate(batches):
            pulled.append(i)
            yield batch

    try:
        results = map_batches(_fingerprint_sums, stream(), workers=2, chunk_rows=8)
        first = next(results)
        # the workers already hold the second batch's slices while the first batch's results are handed on
        assert pulled == [0, 1] and first.num_rows == 8
        rest = [first, *results]
    finally:
        shutdown_pools()
    assert pulled == list(range(len(batches)))
    combined = pa.Table.from_batches(rest)
    assert combined.column("inchikey").to_pylist() == table.column("inchikey").to_pylist()
    assert combined.column("bits_on").to_pylist() == [float(v.sum()) for v in vectors]
