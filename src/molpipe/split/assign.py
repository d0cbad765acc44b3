"""Train/valid/test assignment, pure Python.

``balanced_scaffold_split`` follows Chemprop's ``scaffold_balanced``: molecules sharing a Bemis-Murcko scaffold stay
in one split; scaffold sets too big to fit in half of the test set are placed first (so they land in train),
the rest in a seeded random order, each set going to train until it is full, then valid, then test. It works on
scaffold *counts*, not molecules, so the driver never holds a library of millions, only its scaffolds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Fractions:
    train: float = 0.8
    valid: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        values = (self.train, self.valid, self.test)
        if any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and sum to 1, got {values}")


def balanced_scaffold_split(scaffold_counts: Mapping[str, int], fractions: Fractions, seed: int) -> dict[str, str]:
    """Scaffold -> split name, for scaffold sets of the given sizes."""
    total = sum(scaffold_counts.values())
    train_size, valid_size = fractions.train * total, fractions.valid * total
    test_size = total - train_size - valid_size
    big = sorted(s for s, n in scaffold_counts.items() if n > test_size / 2)
    small = sorted(s for s, n in scaffold_counts.items() if n <= test_size / 2)
    rng = random.Random(seed)
    rng.shuffle(big)
    rng.shuffle(small)
    big.sort(key=lambda s: -scaffold_counts[s])  # stable: ties keep the seeded order
    assignment: dict[str, str] = {}
    filled = {"train": 0, "valid": 0}
    for scaffold in big + small:
        size = scaffold_counts[scaffold]
        if filled["train"] + size <= train_size:
            split = "train"
        elif filled["valid"] + size <= valid_size:
            split = "valid"
        else:
            split = "test"
        if split in filled:
            filled[split] += size
        assignment[scaffold] = split
    return assignment
