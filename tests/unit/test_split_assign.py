"""Balanced scaffold split, pure."""

import pytest

from molpipe.split.assign import Fractions, balanced_scaffold_split


def scaffold_counts():
    counts = {"": 120, "c1ccccc1": 300}
    counts.update({f"scaffold-{i}": 1 + i % 7 for i in range(400)})
    return counts


def test_fractions_are_met_within_one_scaffold_set():
    counts = scaffold_counts()
    total = sum(counts.values())
    assignment = balanced_scaffold_split(counts, Fractions(0.8, 0.1, 0.1), seed=0)
    sizes = {split: sum(n for s, n in counts.items() if assignment[s] == split) for split in ("train", "valid", "test")}
    assert sum(sizes.values()) == total
    assert abs(sizes["train"] - 0.8 * total) <= 7 and abs(sizes["valid"] - 0.1 * total) <= 7


def test_big_scaffold_sets_go_to_train():
    assignment = balanced_scaffold_split(scaffold_counts(), Fractions(), seed=3)
    assert assignment["c1ccccc1"] == "train" and assignment[""] == "train"


def test_seed_decides_and_is_deterministic():
    counts = scaffold_counts()
    a = balanced_scaffold_split(counts, Fractions(), seed=1)
    assert a == balanced_scaffold_split(dict(reversed(list(counts.items()))), Fractions(), seed=1)
    assert a != balanced_scaffold_split(counts, Fractions(), seed=2)


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        Fractions(0.8, 0.3, 0.1)
