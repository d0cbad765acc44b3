"""Acquisition functions, the applicability-domain index and diversity picks on constructed cases and real molecules."""

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from molpipe.featurize import parse_featurizers
from molpipe.featurize.domain import FINGERPRINT, TrainingIndex, bits_of, on_bits
from molpipe.lab.diversity import pick
from molpipe.score.acquisition import AcquisitionContext, acquire, available_acquisitions, hash_uniform

KEYS = ["A", "B", "C", "D"]
# A: best mean, certain; B: slightly lower mean, very uncertain; C: poor and certain; D: poor and uncertain
MEAN = np.array([0.80, 0.70, 0.10, 0.20])
STD = np.array([0.01, 0.30, 0.01, 0.25])


def order(name, maximize=True, context=AcquisitionContext(incumbent=0.75, beta=1.0, xi=0.0)):
    scores = acquire(name, MEAN, STD, KEYS, context, maximize)
    return [KEYS[i] for i in np.argsort(-scores, kind="stable")]


def test_registry_has_the_five_strategies():
    assert available_acquisitions() == ["ei", "greedy", "random", "thompson", "ucb"]


def test_greedy_exploits_the_mean_and_minimize_flips_it():
    assert order("greedy") == ["A", "B", "D", "C"]
    assert order("greedy", maximize=False) == ["C", "D", "B", "A"]


def test_ucb_prefers_the_uncertain_near_best():
    assert order("ucb")[:2] == ["B", "A"]  # 0.70 + 0.30 > 0.80 + 0.01
    assert order("ucb", context=AcquisitionContext(beta=0.0)) == order("greedy")


def test_ei_rewards_the_chance_of_beating_the_incumbent():
    scores = acquire("ei", MEAN, STD, KEYS, AcquisitionContext(incumbent=0.75, xi=0.0), True)
    assert scores.argmax() == 1 and (scores >= 0).all()  # B can beat 0.75 by far; A only by 0.05
    certain = acquire("ei", MEAN, np.zeros(4), KEYS, AcquisitionContext(incumbent=0.75, xi=0.0), True)
    assert np.allclose(certain, np.maximum(MEAN - 0.75, 0))


def test_thompson_and_random_are_reproducible_per_molecule_not_per_row_order():
    context = AcquisitionContext(seed=7)
    forward = acquire("thompson", MEAN, STD, KEYS, context, True)
    backward = acquire("thompson", MEAN[::-1], STD[::-1], KEYS[::-1], context, True)
    assert np.allclose(forward, backward[::-1])
    assert not np.allclose(forward, acquire("thompson", MEAN, STD, KEYS, AcquisitionContext(seed=8), True))
    draws = hash_uniform([str(i) for i in range(20000)], 0)
    assert 0 < draws.min() and draws.max() < 1 and abs(draws.mean() - 0.5) < 0.01


def test_missing_uncertainty_counts_as_zero():
    assert np.allclose(acquire("ucb", MEAN, np.full(4, np.nan), KEYS, AcquisitionContext(), True), MEAN)


def test_max_similarity_equals_rdkit_bulk_tanimoto(data_dir):
    smiles = [s for s in pd.read_csv(data_dir / "hiv_sample.csv")["smiles"] if Chem.MolFromSmiles(s) is not None]
    train, queries = smiles[:150], smiles[150:]
    index = TrainingIndex.from_bytes(TrainingIndex.from_smiles(train).to_bytes())
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fingerprints = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in train]
    expected = [
        max(DataStructs.BulkTanimotoSimilarity(generator.GetFingerprint(Chem.MolFromSmiles(q)), fingerprints))
        for q in queries
    ]
    assert np.allclose(index.max_similarity([on_bits(q) for q in queries]), expected, atol=1e-6)
    assert index.max_similarity([on_bits(train[3])])[0] == pytest.approx(1.0)
    assert TrainingIndex.from_smiles([]).max_similarity([on_bits("CCO")])[0] == 0.0


def test_a_model_reading_the_domains_fingerprint_shares_it(data_dir):
    """fp-mlp's Morgan featurizer is the domain's fingerprint, so a scoring worker computes it once for both: the
    vector the model reads and the on-bits the domain indexes must be exactly what each computes on its own."""
    from molpipe.models import get_model

    assert FINGERPRINT in get_model("fp-mlp").featurizers()
    (morgan,) = parse_featurizers("morgan:radius=2:n_bits=2048")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    for smiles in pd.read_csv(data_dir / "hiv_sample.csv")["smiles"]:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            continue
        vector = FINGERPRINT.compute(mol)
        assert np.array_equal(vector, morgan.compute(mol)), smiles
        assert bits_of(vector).tolist() == list(generator.GetFingerprint(mol).GetOnBits()) == on_bits(smiles).tolist()


def test_diversity_picks(data_dir):
    smiles = pd.read_csv(data_dir / "hiv_sample.csv")["smiles"].tolist()[:60]
    phenols = ["Oc1ccccc1", "Cc1ccc(O)cc1", "CCc1ccc(O)cc1", "CCCc1ccc(O)cc1"]
    ordered = pd.DataFrame({"smiles": phenols + smiles, "scaffold": ["c1ccccc1"] * 4 + [f"s{i}" for i in range(60)]})
    assert list(pick(ordered, k=5, method="none").index) == [0, 1, 2, 3, 4]
    by_scaffold = pick(ordered, k=5, method="scaffold")
    assert list(by_scaffold.index) == [0, 4, 5, 6, 7]  # one phenol, then the best of every other scaffold
    spread = pick(ordered, k=5, method="maxmin")
    assert 0 in spread.index and len(set(spread.index) & {1, 2, 3}) == 0  # the near-copies of the first are skipped
    capped = pick(ordered, k=5, method="none", max_per_scaffold=2)
    assert list(capped.index) == [0, 1, 4, 5, 6]  # two phenols at most
    with pytest.raises(ValueError, match="unknown diversity"):
        pick(ordered, k=5, method="tanimoto")


def test_sphere_and_butina_take_the_best_of_each_neighbourhood_in_rank_order(data_dir):
    from rdkit import DataStructs

    from molpipe.lab.diversity import _fingerprints

    smiles = pd.read_csv(data_dir / "hiv_sample.csv")["smiles"].tolist()[:80]
    ordered = pd.DataFrame({"smiles": smiles, "scaffold": [f"s{i}" for i in range(80)]})
    for method in ("sphere", "butina"):
        chosen = pick(ordered, k=10, method=method, similarity=0.3)
        assert len(chosen) == 10 and chosen.index.is_monotonic_increasing and chosen.index[0] == 0
    sphere = pick(ordered, k=10, method="sphere", similarity=0.3)
    prints = _fingerprints(sphere["smiles"])
    for i, fingerprint in enumerate(prints[1:], start=1):  # no pick is 0.3 like a better one
        assert max(DataStructs.BulkTanimotoSimilarity(fingerprint, prints[:i])) < 0.3
    skipped = [i for i in range(sphere.index[-1]) if i not in sphere.index]
    everything = _fingerprints(ordered["smiles"])
    for i in skipped:  # every candidate passed over is 0.3 like a better pick
        better = [everything[j] for j in sphere.index if j < i]
        assert max(DataStructs.BulkTanimotoSimilarity(everything[i], better)) >= 0.3
    phenols = ["Oc1ccccc1", "Cc1ccc(O)cc1", "CCc1ccc(O)cc1", "CCCc1ccc(O)cc1"]
    near_copies = pd.DataFrame({"smiles": phenols * 3, "scaffold": ["c1ccccc1"] * 12})
    assert len(pick(near_copies, k=6, method="sphere")) == 6  # too few neighbourhoods: the best others fill it
