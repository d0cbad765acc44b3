"""Model quality against published results: HIV test ROC-AUC and ESOL test RMSE on balanced scaffold splits.

    python benchmarks/quality.py [--datasets hiv,esol] [--models gnn,chemberta,fp-mlp] [--seeds 3] [--epochs 30]
                                 [--home DIR]  # keep (and reuse) the featurized tables across invocations

For each dataset it ingests and featurizes the full file once, then for each seed makes a balanced scaffold split
with that seed and trains every model with it (2 DDP processes), printing mean +/- sd of the test metric over seeds
beside the published figures, with the wall time on this machine. ``chemberta`` is pretrained first on the
dataset's own SMILES (``molpipe pretrain``): no pretrained ChemBERTa weights can be had here, so its figure is
not the 77M-molecule ChemBERTa's; pass ``--pretrained DIR`` to use real weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATASETS = ROOT.parent / "shared" / "datasets"

CASES = {
    "hiv": {
        "file": "hiv/hiv.csv.gz",
        "label": "HIV_active",
        "metric": "roc_auc",
        "published": {
            "Chemprop D-MPNN": "0.776 +/- 0.007",
            "Chemprop v2 ensemble": "0.790",
            "MoleculeNet best (KernelSVM)": "0.792",
            "ChemBERTa-MLM-100M": "0.740",
        },
    },
    "esol": {
        "file": "esol/delaney-processed.csv",
        "label": "measured log solubility in mols per litre",
        "metric": "rmse",
        "published": {"Chemprop D-MPNN (random split)": "0.555", "MoleculeNet GCN (scaffold)": "0.885"},
    },
}
TARGET = {"hiv": ("gnn", 0.79)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="hiv,esol")
    parser.add_argument("--models", default="gnn,chemberta,fp-mlp")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--pretrained", help="folder of real ChemBERTa weights (skips `molpipe pretrain`)")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--home", help="MOLPIPE_HOME to use and keep (default: a temporary one, removed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.runtime.engine import session
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig
    from molpipe.train.pretrain import PretrainConfig, pretrain

    models = args.models.split(",")
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="molpipe-quality-"))
    results = []
    try:
        with session(load_settings().replace(home=str(home))) as (engine, catalog):
            for name in args.datasets.split(","):
                case = CASES[name]
                ingest(catalog, path=DATASETS / case["file"], library=name, label_cols=[case["label"]])
                featurize(
                    catalog,
                    library=name,
                    featurizers=parse_featurizers("morgan,rdkit2d,graph"),
                    workers=engine.udf_workers,
                )
                pretrained = args.pretrained
                if "chemberta" in models and not pretrained:
                    config = PretrainConfig(epochs=args.pretrain_epochs)
                    pretrained = pretrain(
                        catalog, library=name, config=config, out=str(home / f"pretrained-{name}")
                    ).out
                for model in models:
                    scores, seconds = [], []
                    for seed in range(args.seeds):
                        split(catalog, library=name, method="scaffold", pool_fraction=0.0, seed=seed)
                        params = {"pretrained": pretrained} if model == "chemberta" else {}
                        started = time.monotonic()
                        request = TrainRequest(
                            name,
                            f"{name}_{model}".replace("-", "_"),
                            (case["label"],),
                            split_id=f"scaffold-seed{seed}-pool0",
                            num_processes=args.num_processes,
                        )
                        config = TrainConfig(
                            model=model, model_params=params, epochs=args.epochs, seed=seed, patience=10
                        )
                        summary = train(catalog, request, config)
                        seconds.append(time.monotonic() - started)
                        scores.append(summary.test_metrics[case["metric"]])
                        print(
                            f"{name} {model} seed {seed}: test {case['metric']} {scores[-1]:.4f} ({seconds[-1]:.0f} s)",
                            flush=True,
                        )
                    row = {
                        "dataset": name,
                        "model": model,
                        "metric": case["metric"],
                        "scores": scores,
                        "mean": statistics.mean(scores),
                        "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                        "seconds_per_run": statistics.mean(seconds),
                    }
                    results.append(row)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)

    for name in args.datasets.split(","):
        case = CASES[name]
        print(
            f"\n== {name}: test {case['metric']}, balanced scaffold split, {args.seeds} seeds, {args.epochs} epochs max"
        )
        for row in (r for r in results if r["dataset"] == name):
            print(
                f"  molpipe {row['model']:<10} {row['mean']:.3f} +/- {row['sd']:.3f}   ({row['seconds_per_run']:.0f} s per run)"
            )
        for label, figure in case["published"].items():
            print(f"  published {label:<30} {figure}")
        if name in TARGET:
            model, target = TARGET[name]
            mine = next((r["mean"] for r in results if r["dataset"] == name and r["model"] == model), None)
            if mine is not None:
                print(f"  target: {model} >= {target}: {'met' if mine >= target else 'NOT met'} ({mine:.3f})")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
