"""Diversity-aware batch selection: k molecules from candidates already ordered by acquisition score, best first.

Pure functions of the candidates (a pandas frame sorted best first), so they are tested without Spark:

* ``butina`` (the default: it found the most actives in benchmarks/active_learning.py, docs/performance.md):
  Taylor-Butina clusters at ``similarity`` (Tanimoto on Morgan bits), and the best-ranked member of each cluster,
  best first;
* ``sphere``: sphere exclusion in rank order: a candidate is taken unless it is at least ``similarity`` like one
  taken before it, so every pick is the best of its neighbourhood;
* ``maxmin``: MaxMin (RDKit's ``MaxMinPicker``) seeded with the best candidate: each next pick is the one least like
  everything picked so far, whatever its rank (it favours outliers);
* ``scaffold``: round-robin over Murcko scaffolds: the best of every scaffold, then the second best, ...;
* ``none``: the top k.

``max_per_scaffold`` caps how many picks share one Murcko scaffold (acyclic molecules share the empty one): only the
best ``max_per_scaffold`` of each scaffold are eligible. Where sphere or Butina leave fewer than k picks, the best
eligible candidates not yet taken fill the batch. The picks are returned in acquisition order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from molpipe.featurize.domain import N_BITS, on_bits

DIVERSITY = ("butina", "sphere", "maxmin", "scaffold", "none")


def check_pick(*, k: int, method: str, similarity: float, max_per_scaffold: int) -> None:
    """:func:`pick`'s arguments, checked: ``molpipe select`` calls this before it reads a single candidate."""
    if method not in DIVERSITY:
        raise ValueError(f"unknown diversity {method!r}; choose from {', '.join(DIVERSITY)}")
    if k <= 0:
        raise ValueError(f"a batch needs k >= 1 molecules, not {k}")
    if not 0.0 < similarity <= 1.0:
        raise ValueError(f"select similarity must be in (0, 1], not {similarity}")
    if max_per_scaffold < 0:
        raise ValueError(f"--max-per-scaffold must be 0 (no cap) or more, not {max_per_scaffold}")


def pick(
    ordered: pd.DataFrame,
    *,
    k: int,
    method: str,
    similarity: float = 0.75,
    max_per_scaffold: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """``k`` rows of ``ordered`` (columns ``smiles``, ``scaffold``; best first) chosen by ``method``."""
    check_pick(k=k, method=method, similarity=similarity, max_per_scaffold=max_per_scaffold)
    eligible = ordered
    if max_per_scaffold > 0:
        eligible = ordered[ordered.groupby(ordered["scaffold"].fillna(""), sort=False).cumcount() < max_per_scaffold]
    if len(eligible) <= k or method == "none":
        return eligible.head(k)
    if method == "scaffold":
        turn = eligible.groupby(eligible["scaffold"].fillna(""), sort=False).cumcount()
        chosen = np.argsort(turn.to_numpy(), kind="stable")[:k]
    elif method == "maxmin":
        chosen = _maxmin(_fingerprints(eligible["smiles"]), k, seed)
    elif method == "sphere":
        chosen = _sphere(_fingerprints(eligible["smiles"]), k, similarity)
    else:
        chosen = _butina(_fingerprints(eligible["smiles"]), k, similarity)
    return eligible.iloc[sorted(_filled(list(chosen), len(eligible), k))]


def _filled(chosen: list[int], n: int, k: int) -> list[int]:
    """``chosen`` topped up to ``k`` with the best positions not in it."""
    taken = set(chosen)
    return chosen + [i for i in range(n) if i not in taken][: max(0, k - len(chosen))]


def _fingerprints(smiles: pd.Series) -> list:
    from rdkit import DataStructs

    out = []
    for text in smiles:
        vector = DataStructs.ExplicitBitVect(N_BITS)
        vector.SetBitsFromList([int(b) for b in on_bits(text)])
        out.append(vector)
    return out


def _sphere(fingerprints: list, k: int, similarity: float) -> list[int]:
    from rdkit import DataStructs

    taken: list[int] = []
    for i, fingerprint in enumerate(fingerprints):
        if len(taken) == k:
            break
        kept = [fingerprints[j] for j in taken]
        if not kept or max(DataStructs.BulkTanimotoSimilarity(fingerprint, kept)) < similarity:
            taken.append(i)
    return taken


def _butina(fingerprints: list, k: int, similarity: float) -> list[int]:
    from rdkit import DataStructs
    from rdkit.ML.Cluster import Butina

    distances = []
    for i in range(1, len(fingerprints)):
        distances.extend(1.0 - s for s in DataStructs.BulkTanimotoSimilarity(fingerprints[i], fingerprints[:i]))
    clusters = Butina.ClusterData(distances, len(fingerprints), 1.0 - similarity, isDistData=True)
    return sorted(min(cluster) for cluster in clusters)[:k]  # the best-ranked member of each cluster


def _maxmin(fingerprints: list, k: int, seed: int) -> list[int]:
    from rdkit.SimDivFilters import rdSimDivPickers

    picker = rdSimDivPickers.MaxMinPicker()
    return list(picker.LazyBitVectorPick(fingerprints, len(fingerprints), k, firstPicks=[0], seed=seed))
