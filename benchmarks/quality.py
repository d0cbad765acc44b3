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
import tempfile
from pathlib import Path

from labelled import CASES, prepared, spread, train_molpipe

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
    from molpipe.runtime.engine import session
    from molpipe.split.job import split

    models = args.models.split(",")
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="molpipe-quality-"))
    results = []
    try:
        with session(load_settings().replace(home=str(home))) as (engine, catalog):
            datasets = prepared(
                catalog,
                engine=engine,
                names=args.datasets.split(","),
                models=models,
                pretrained=args.pretrained,
                epochs=args.pretrain_epochs,
                home=home,
            )
            for name, case, pretrained in datasets:
                for model in models:
                    scores, seconds = [], []
                    for seed in range(args.seeds):
                        made = split(catalog, library=name, method="scaffold", pool_fraction=0.0, seed=seed)
                        summary, took = train_molpipe(
                            catalog,
                            name=name,
                            model=model,
                            seed=seed,
                            split_id=made.split_id,
                            pretrained=pretrained,
                            num_processes=args.num_processes,
                            epochs=args.epochs,
                            patience=10,
                        )
                        seconds.append(took)
                        scores.append(summary.test_metrics[case["metric"]])
                        print(
                            f"{name} {model} seed {seed}: test {case['metric']} {scores[-1]:.4f} ({seconds[-1]:.0f} s)",
                            flush=True,
                        )
                    mean, sd = spread(scores)
                    row = {
                        "dataset": name,
                        "model": model,
                        "metric": case["metric"],
                        "scores": scores,
                        "mean": mean,
                        "sd": sd,
                        "seconds_per_run": spread(seconds)[0],
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
