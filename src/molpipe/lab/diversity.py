"""Diversity-aware batch selection: k molecules from candidates already ordered by acquisition score.

Pure functions of the candidates (a pandas frame sorted best first), so they are tested without Spark:

* ``maxmin``: MaxMin on Morgan fingerprints (RDKit's ``MaxMinPicker``) seeded with the best-scored molecule: each
  next pick is the candidate least similar to everything picked so far;
* ``scaffold``: round-robin over Murcko scaffolds: the best of every scaffold, then the second best, ...;
* ``none``: the top k.
The picks are returned in acquisition order.
"""

from __future__ import annotations

import pandas as pd

from molpipe.score.domain import N_BITS, on_bits

DIVERSITY = ("maxmin", "scaffold", "none")


def pick(ordered: pd.DataFrame, k: int, method: str, seed: int = 0) -> pd.DataFrame:
    if method not in DIVERSITY:
        raise ValueError(f"unknown diversity {method!r}; choose from {', '.join(DIVERSITY)}")
    if k <= 0:
        raise ValueError(f"a batch needs k >= 1 molecules, not {k}")
    if len(ordered) <= k or method == "none":
        return ordered.head(k)
    if method == "scaffold":
        turn = ordered.groupby(ordered["scaffold"].fillna(""), sort=False).cumcount()
        return (
            ordered.assign(_turn=turn.to_numpy())
            .sort_values("_turn", kind="stable")
            .head(k)
            .drop(columns="_turn")
            .sort_index()
        )
    return ordered.iloc[sorted(_maxmin(ordered["smiles"].tolist(), k, seed))]


def _maxmin(smiles: list[str], k: int, seed: int) -> list[int]:
    from rdkit import DataStructs
    from rdkit.SimDivFilters import rdSimDivPickers

    fingerprints = []
    for text in smiles:
        vector = DataStructs.ExplicitBitVect(N_BITS)
        vector.SetBitsFromList([int(b) for b in on_bits(text)])
        fingerprints.append(vector)
    picker = rdSimDivPickers.MaxMinPicker()
    return list(picker.LazyBitVectorPick(fingerprints, len(fingerprints), k, firstPicks=[0], seed=seed))
