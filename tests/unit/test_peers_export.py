"""benchmarks/peers.py's export to Chemprop, pure: the split's labelled molecules as Chemprop's CSV, majority
labels for classification, and the table over seeds. No Chemprop and no Spark needed."""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402

LABELS = ["NR-AR", "NR-AhR", "SR-p53"]


def rows_from(path: Path, labels, n: int) -> pd.DataFrame:
    """The shape split_rows returns: inchikey, split, smiles, one column per label; splits in turn."""
    frame = pd.read_csv(path).head(n)
    smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s.strip())) for s in frame["smiles"]]
    rows = pd.DataFrame({"inchikey": [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in smiles], "smiles": smiles})
    rows["split"] = [peers.SPLITS[i % 3] for i in range(n)]
    for label in labels:
        rows[label] = frame[label].to_numpy(dtype=float)
    return rows


def test_classification_labels_count_by_majority_and_missing_stay_missing():
    rows = rows_from(ROOT / "tests" / "data" / "tox21_sample.csv", LABELS, 30)
    rows.loc[0, LABELS] = [0.5, 0.0, np.nan]  # averaged duplicates: active and inactive measured once each
    rows.loc[1, LABELS] = [1 / 3, 2 / 3, 1.0]
    rows.loc[2, LABELS] = np.nan  # no label of the task observed: molpipe does not train on it
    frames = peers.chemprop_frames(rows, labels=LABELS, kind="classification")

    observed = rows[LABELS].notna().any(axis=1)
    assert sum(len(f) for f in frames.values()) == observed.sum() < len(rows)
    assert rows.loc[2, "smiles"] not in {s for f in frames.values() for s in f["smiles"]}
    by_smiles = pd.concat(frames.values()).set_index("smiles")
    assert list(by_smiles.loc[rows.loc[0, "smiles"]].iloc[:2]) == [1.0, 0.0]
    assert math.isnan(by_smiles.loc[rows.loc[0, "smiles"], "SR-p53"])
    assert list(by_smiles.loc[rows.loc[1, "smiles"]]) == [0.0, 1.0, 1.0]
    values = by_smiles[LABELS].to_numpy()
    assert np.isin(values[~np.isnan(values)], (0.0, 1.0)).all()
    for name, frame in frames.items():
        assert list(frame.columns) == ["smiles", *LABELS]
        expected = rows[(rows["split"] == name) & rows[LABELS].notna().any(axis=1)].sort_values("inchikey")
        assert list(frame["smiles"]) == list(expected["smiles"])  # InChIKey order: the same files every run


def test_regression_labels_pass_unchanged():
    label = "measured log solubility in mols per litre"
    rows = rows_from(ROOT / "tests" / "data" / "esol_sample.csv", [label], 20)
    frames = peers.chemprop_frames(rows, labels=[label], kind="regression")
    exported = pd.concat(frames.values()).set_index("smiles")[label]
    assert exported.to_dict() == rows.set_index("smiles")[label].to_dict()


def test_table_is_mean_and_sd_over_seeds_with_calibration():
    runs = [
        {"dataset": "esol", "model": "gnn", "seed": s, "score": v, "seconds": 10.0 * (s + 1), "counts": {}}
        | {"calibration": {"coverage": c, "interval_width": 2.0}}
        for s, (v, c) in enumerate([(0.8, 0.9), (1.0, 0.7)])
    ] + [
        {
            "dataset": "esol",
            "model": "chemprop",
            "seed": 0,
            "score": 0.9,
            "seconds": 5.0,
            "counts": {},
            "calibration": {},
        }
    ]
    gnn, chemprop = peers.summarize(runs)
    assert gnn["model"] == "gnn" and gnn["metric"] == "rmse" and gnn["seeds"] == [0, 1]
    assert math.isclose(gnn["mean"], 0.9) and math.isclose(gnn["sd"], math.sqrt(0.02))
    assert gnn["seconds_per_run"] == 15.0 and math.isclose(gnn["calibration"]["coverage"], 0.8)
    assert chemprop["sd"] == 0.0 and chemprop["calibration"] == {}


def test_resume_keeps_the_runs_of_the_same_chemprop_and_refuses_another(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "chemprop_version", lambda: "2.2.4")
    args = argparse.Namespace(out=str(tmp_path / "peers.json"), chemprop_epochs=None, seeds=3)
    assert peers.previous_runs(args) == []  # nothing yet: start from scratch
    runs = [{"dataset": "hiv", "model": "chemprop", "seed": 0, "score": 0.8, "seconds": 1.0, "counts": {}}]
    peers.write_report(args, [{**runs[0], "calibration": {}}], 1.0)
    assert peers.previous_runs(args) == [{**runs[0], "calibration": {}}]
    report = json.loads((tmp_path / "peers.json").read_text())
    (tmp_path / "peers.json").write_text(json.dumps({**report, "chemprop_epochs": 3}))  # a smoke run's figures
    with pytest.raises(SystemExit, match="epochs 3: not resumed"):
        peers.previous_runs(args)


@pytest.mark.parametrize(
    ("given", "spec"),
    [("fp-mlp-x5", ("fp-mlp", 5)), ("gnn", ("gnn", 1)), ("fp-mlp", ("fp-mlp", 1))],
)
def test_an_ensemble_is_named_as_its_run_is(given, spec):
    assert peers.ensemble_spec(given) == spec
