"""Scaffold folds for cross-conformal calibration (molpipe.train.folds) and when training uses them
(TrainConfig.folds_for): folds hold whole scaffold sets of train out, never the sets a scaffold split keeps in train,
every held-out molecule is predicted by exactly one fold model that never saw it, and every fold model stops early on
the whole validation split."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molpipe.train.folds import assign_folds, write_folds
from molpipe.train.loop import CROSS_FIT_BELOW, CROSS_FIT_FOLDS, TrainConfig


def test_folds_keep_scaffold_sets_whole_balanced_and_leave_big_sets_in_training():
    sizes = {"": 300, "c1ccccc1": 120, **{f"s{i}": 1 + i % 7 for i in range(200)}}
    folds = assign_folds(sizes, held_out_max=60, k=5, seed=3)
    assert "" not in folds and "c1ccccc1" not in folds  # bigger than any held-out set: always trained on
    assert set(folds) == {f"s{i}" for i in range(200)} and set(folds.values()) == set(range(5))
    per_fold = Counter()
    for scaffold, fold in folds.items():
        per_fold[fold] += sizes[scaffold]
    assert max(per_fold.values()) - min(per_fold.values()) <= 1  # largest first into the emptiest fold
    assert folds == assign_folds(sizes, held_out_max=60, k=5, seed=3)  # the same split every time
    assert folds != assign_folds(sizes, held_out_max=60, k=5, seed=4)  # equal sizes ordered by the seed
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(sizes, held_out_max=60, k=1, seed=0)


def _write(folder, scaffolds, offset):
    folder.mkdir(parents=True)
    keys = [f"K{offset + i:05d}" for i in range(len(scaffolds))]
    table = pa.table({"inchikey": keys, "scaffold": scaffolds, "y": [[float(i)] for i in range(len(scaffolds))]})
    pq.write_table(table, folder / "part-0.parquet")
    return set(keys)


def test_each_held_out_molecule_is_in_one_fold_and_out_of_that_fold_s_training(tmp_path):
    root = tmp_path / "data"
    train = _write(root / "train", [""] * 40 + [f"t{i % 30}" for i in range(60)], 0)  # "" : 40 > any held-out set
    valid = _write(root / "valid", [f"v{i % 9}" for i in range(18)], 1000)
    _write(root / "test", [f"x{i % 4}" for i in range(12)], 2000)  # held-out sets up to 3: "" stays in
    folders = write_folds(root, k=4, seed=0, out=tmp_path / "folds")
    assert len(folders) == 4
    seen = Counter()
    for folder in folders:
        held = pq.read_table(folder / "test").to_pydict()
        trained = set(pq.read_table(folder / "train").column("inchikey").to_pylist())
        assert trained | set(held["inchikey"]) == train and not trained & set(held["inchikey"])
        assert set(pq.read_table(folder / "valid").column("inchikey").to_pylist()) == valid  # early stopping
        assert "" not in held["scaffold"]
        seen.update(held["inchikey"])
    assert set(seen) == train - {f"K{i:05d}" for i in range(40)} and set(seen.values()) == {1}


@pytest.mark.parametrize(
    ("config", "kind", "valid", "folds"),
    [
        (TrainConfig(), "regression", 111, CROSS_FIT_FOLDS),  # ESOL-sized validation split: cross-fit
        (TrainConfig(), "regression", CROSS_FIT_BELOW, 0),  # large enough to calibrate on alone
        (TrainConfig(), "classification", 111, 0),  # temperature and class sets: the validation split
        (TrainConfig(ensemble=3), "regression", 111, 0),  # normalized by the members' spread
        (TrainConfig(calibration_folds=0), "regression", 111, 0),
        (TrainConfig(calibration_folds=10), "regression", 50_000, 10),
        (TrainConfig(calibration_folds=10), "regression", 0, 0),  # no validation split to stop the fold models on
    ],
)
def test_when_training_cross_fits(config, kind, valid, folds):
    assert config.folds_for(kind=kind, valid=valid) == folds


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"calibration_folds": 1}, "0 or at least 2"),
        ({"calibration_folds": -2}, "0 or at least 2"),
        ({"calibration_folds": 5, "ensemble": 3}, "needs --ensemble 1"),
    ],
)
def test_calibration_folds_that_cannot_run_fail_first(given, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**given)


def test_no_fold_when_no_scaffold_set_is_small_enough_to_hold_out(tmp_path):
    """A random split can spread one scaffold over every split; nothing can then be held out whole, and training
    falls back to the validation split (TrainConfig's folds become 0)."""
    root = tmp_path / "data"
    _write(root / "train", ["c1ccccc1"] * 30, 0)
    _write(root / "valid", ["c1ccccc1"] * 4, 1000)
    _write(root / "test", ["c1ccccc1"] * 4, 2000)
    assert write_folds(root, k=5, seed=0, out=tmp_path / "folds") == []
