"""Featurizers from the registry, on real molecules, no Spark."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from molpipe.featurize import available, get_featurizer, parse_featurizers
from molpipe.featurize.graph import ATOM_DIM, BOND_DIM, from_flat, to_pyg_data

ASPIRIN = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")


def test_registry_names_and_parameters():
    assert {"morgan", "rdkit2d", "maccs", "graph"} <= set(available())
    morgan = get_featurizer("morgan:radius=3:n_bits=1024:counts=true")
    assert (morgan.radius, morgan.n_bits, morgan.counts) == (3, 1024, True)
    assert morgan.spec == "morgan/v1(chirality=False,counts=True,n_bits=1024,radius=3)"
    assert [f.name for f in parse_featurizers("morgan, maccs")] == ["morgan", "maccs"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("ecfp", "unknown featurizer 'ecfp'"),
        ("morgan:size=5", "bad parameter 'size=5'"),
        ("morgan:radius=two", "radius='two' is not a valid int"),
        ("morgan:counts=maybe", "counts='maybe' is not a valid bool"),
        ("morgan,morgan", "named twice"),
        ("", "no featurizer named"),
    ],
)
def test_bad_featurizer_specs_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_featurizers(text)


def test_morgan_bits_and_counts():
    bits = get_featurizer("morgan").compute(ASPIRIN)
    counts = get_featurizer("morgan:counts=true").compute(ASPIRIN)
    assert bits.shape == (2048,) and bits.dtype == np.float32
    assert set(np.unique(bits)) == {0.0, 1.0}
    assert np.array_equal(counts > 0, bits > 0)
    assert counts.sum() > bits.sum()  # aspirin repeats environments (aromatic CH)


def test_maccs_keys():
    keys = get_featurizer("maccs").compute(ASPIRIN)
    assert keys.shape == (167,) and keys[0] == 0.0 and 10 < keys.sum() < 60


def test_rdkit2d_covers_every_descriptor_with_names():
    featurizer = get_featurizer("rdkit2d")
    values = featurizer.compute(Chem.MolFromSmiles("CCO"))
    assert featurizer.dim == len(Descriptors._descList) == len(values) == len(featurizer.feature_names)
    assert values[featurizer.feature_names.index("MolWt")] == pytest.approx(46.069, abs=1e-3)
    assert values[featurizer.feature_names.index("NumHDonors")] == 1


def test_rdkit2d_failing_or_infinite_descriptor_becomes_nan(monkeypatch):
    from molpipe.featurize import fingerprints

    def broken(mol):
        raise ZeroDivisionError("exotic valence")

    patched = [("AAA_broken", broken), ("AAB_infinite", lambda mol: math.inf)] + fingerprints._DESCRIPTORS
    monkeypatch.setattr(fingerprints, "_DESCRIPTORS", patched)
    values = get_featurizer("rdkit2d").compute(ASPIRIN)
    assert math.isnan(values[0]) and math.isnan(values[1]) and np.isfinite(values[2:]).all()


SURAMIN_ANALOGUE = (  # from tests/data/hiv_sample.csv (FIAFUQMPZJWCLV-UHFFFAOYSA-N): 100+ heavy atoms
    "Cc1ccc(C(=O)Nc2ccc(S(=O)(=O)O)c3cc(S(=O)(=O)O)cc(S(=O)(=O)O)c23)cc1NC(=O)c1cccc(NC(=O)Nc2cccc(C(=O)Nc3cc(C(=O)"
    "Nc4ccc(S(=O)(=O)O)c5cc(S(=O)(=O)O)cc(S(=O)(=O)O)c45)ccc3C)c2)c1"
)


def test_rdkit2d_is_the_same_whatever_the_blas_thread_count():
    """AvgIpc of this molecule moved in the 4th digit between 1 and 2 OpenBLAS threads (an executor's Python worker
    and a driver), which failed the cluster test that compares Sail's features with the executors'."""
    script = (
        "import sys; from rdkit import Chem; from molpipe.featurize import get_featurizer; "
        f"sys.stdout.write(get_featurizer('rdkit2d').compute(Chem.MolFromSmiles({SURAMIN_ANALOGUE!r})).tobytes().hex())"
    )
    values = {
        threads: subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for threads in ("1", "2")
    }
    assert values["1"] == values["2"] and len(values["1"]) == 2 * 4 * len(get_featurizer("rdkit2d").feature_names)


def test_graph_of_benzene_has_both_edge_directions():
    graph = get_featurizer("graph").compute(Chem.MolFromSmiles("c1ccccc1"))
    assert graph.x.shape == (6, ATOM_DIM)
    assert graph.edge_index.shape == (2, 12) and graph.edge_attr.shape == (12, BOND_DIM)
    edges = set(map(tuple, graph.edge_index.T.tolist()))
    assert all((b, a) in edges for a, b in edges)


def test_graph_arrays_become_pyg_data_without_rdkit():
    graph = get_featurizer("graph").compute(ASPIRIN)
    # what the features table stores: three flat arrays
    rebuilt = from_flat(graph.x.ravel().tolist(), graph.edge_index.ravel().tolist(), graph.edge_attr.ravel().tolist())
    data = to_pyg_data(rebuilt, y=1.0)
    assert data.num_nodes == ASPIRIN.GetNumAtoms() == 13
    assert data.num_edges == 2 * ASPIRIN.GetNumBonds()
    assert tuple(data.x.shape) == (13, ATOM_DIM) and tuple(data.edge_attr.shape) == (26, BOND_DIM)
    assert data.y == 1.0
    data.validate(raise_on_error=True)


def test_graph_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="edges"):
        from_flat(np.zeros(ATOM_DIM), [0, 1], np.zeros(BOND_DIM * 2))
