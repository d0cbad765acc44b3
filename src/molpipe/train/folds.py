"""Scaffold folds of the training molecules, so a regression model's intervals are calibrated on the errors of many
molecules instead of the few hundred of a small validation split (cross-conformal calibration; the models that make
those errors are trained by :func:`molpipe.train.job.train`).

The folds hold molecules out the way the split did. A scaffold set larger than every set in the validation and test
splits never leaves training: the balanced scaffold split keeps such sets in train, so no test molecule comes from
one. Every other scaffold set of train goes whole into one of ``k`` folds, the largest sets first, each into the
fold with the fewest molecules so far (ties by a seeded order). The validation split stays whole beside every fold:
a fold model stops early on it as the final model did, so the fold's errors are those of a model made the same way.
Read and written with pyarrow: no Spark, no torch.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from molpipe.train.data import split_files

SCAFFOLD = "scaffold"  # the materialized column folds group by


def assign_folds(scaffolds: Mapping[str, int], *, held_out_max: int, k: int, seed: int) -> dict[str, int]:
    """Scaffold -> fold (0 .. k-1) for the scaffold sets of at most ``held_out_max`` molecules; larger sets are
    absent (they stay in every fold's training data)."""
    if k < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {k}")
    movable = sorted(s for s, n in scaffolds.items() if n <= held_out_max)
    random.Random(seed).shuffle(movable)
    movable.sort(key=lambda s: -scaffolds[s])  # stable: equal sizes keep the seeded order
    sizes, folds = [0] * k, {}
    for scaffold in movable:
        fold = min(range(k), key=lambda f: (sizes[f], f))
        folds[scaffold] = fold
        sizes[fold] += scaffolds[scaffold]
    return folds


def write_folds(root: Path, *, k: int, seed: int, out: Path) -> list[Path]:
    """From a materialized split under ``root`` (``train``, ``valid``, ``test`` Parquet folders with a scaffold
    column), write ``out/fold-<i>`` for each fold: ``train`` every train molecule outside fold i, ``valid`` the
    validation split as it is (early stopping), ``test`` fold i's molecules. Returns the fold folders; a fold left
    empty (fewer held-out scaffold sets than folds) is not written."""
    labelled = _read(root, ("train",))
    valid = _read(root, ("valid",))
    held = Counter(_read(root, ("valid", "test"), columns=[SCAFFOLD]).column(SCAFFOLD).to_pylist())
    counts = Counter(labelled[SCAFFOLD].to_pylist())
    folds = assign_folds(counts, held_out_max=max(held.values(), default=0), k=k, seed=seed)
    fold_of = pa.array([folds.get(s, -1) for s in labelled[SCAFFOLD].to_pylist()], pa.int64())
    written = []
    for fold in range(k):
        member = pc.equal(fold_of, fold)
        if not pc.any(member).as_py():
            continue
        folder = out / f"fold-{fold}"
        for split, rows in (
            ("train", labelled.filter(pc.invert(member))),
            ("valid", valid),
            ("test", labelled.filter(member)),
        ):
            (folder / split).mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, folder / split / "part-0.parquet")
        written.append(folder)
    return written


def _read(root: Path, splits: tuple[str, ...], columns: list[str] | None = None) -> pa.Table:
    files = [f for split in splits for f in split_files(root, split)]
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files], promote_options="default")
