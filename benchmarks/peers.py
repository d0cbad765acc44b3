"""Chemprop v2 beside molpipe's models, on exactly the same balanced scaffold splits, in the same run, scored by the
same metric code.

    python benchmarks/peers.py [--datasets esol,tox21,hiv] [--seeds 3] [--models fp-mlp,gnn[,chemberta][,fp-mlp-x5]]
                               [--home DIR]  # keep (and reuse) the featurized tables across invocations
                               [--chemprop-epochs N]  # smoke runs only: reported figures use Chemprop's defaults
                               [--out reports/peers.json] [--resume]  # run only what --out lacks

For each dataset it ingests and featurizes the whole file with molpipe once; for each seed it makes molpipe's
balanced scaffold split with that seed and exports that split's train/valid/test molecules (the ``splits`` table
joined to ``molecules``: standardized SMILES and labels) to CSV. Chemprop (``pip install molpipe[bench]``) trains on
them with its CLI defaults (``chemprop train --data-path train.csv valid.csv test.csv``: three files are taken as
train, valid and test as they are) and predicts test.csv, in a subprocess; molpipe's models train on the same split
with TrainConfig's defaults. Both sides' test predictions are scored by ``molpipe.models.tasks.metrics``: test RMSE
(regression), ROC-AUC averaged over the observed labels (classification).

molpipe averages the labels of duplicate molecules, so a molecule measured both active and inactive has label 0.5;
molpipe trains on such soft labels, but Chemprop's classification CLI takes only 0/1, so its train and valid labels
count by majority (``binary_targets``: >= 0.5 is active) -- as molpipe's metrics count them on both sides.
Wall time: Chemprop's is its train + predict subprocesses; molpipe's is ``train()`` (2 DDP processes, MLflow
logging and registration included). molpipe's test calibration figures (coverage and interval width, or ECE
calibrated and not) are recorded beside its metric.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from labelled import CASES, ROOT, prepared, spread, train_molpipe

CALIBRATION = {
    "regression": ("coverage", "interval_width"),
    "classification": ("ece", "ece_uncalibrated", "coverage", "set_size"),
}
SPLITS = ("train", "valid", "test")
CHEMPROP = Path(sys.executable).with_name("chemprop")


def chemprop_frames(rows: pd.DataFrame, *, labels, kind: str) -> dict[str, pd.DataFrame]:
    """Per split, the CSV Chemprop reads (``smiles`` then the labels, missing ones empty): the molecules molpipe
    trains on, i.e. those with at least one of the labels observed, in InChIKey order so a seed's files are the
    same bytes every time. Classification labels count by majority; the soft ones stay in ``rows`` for scoring."""
    from molpipe.models.tasks import binary_targets

    labels = list(labels)
    rows = rows[rows[labels].notna().any(axis=1)].sort_values("inchikey")
    frames = {}
    for name in SPLITS:
        part = rows[rows["split"] == name]
        out = part[["smiles"]].copy()
        for label in labels:
            values = part[label].to_numpy(dtype=float)
            if kind == "classification":
                values = np.where(np.isnan(values), np.nan, binary_targets(values))
            out[label] = values
        frames[name] = out.reset_index(drop=True)
    return frames


def split_rows(catalog, *, name: str, split_id: str) -> pd.DataFrame:
    """The split's labelled molecules: inchikey, split, standardized smiles, one column per label (NaN: missing)."""
    from pyspark.sql import functions as F

    labels = CASES[name]["labels"]
    splits = catalog.read("splits").where(
        (F.col("library") == name) & (F.col("split_id") == split_id) & F.col("split").isin(*SPLITS)
    )
    molecules = catalog.read("molecules").where(F.col("library") == name)
    columns = [F.col("labels")[label].alias(label) for label in labels]
    joined = splits.select("inchikey", "split").join(molecules.select("inchikey", "smiles", *columns), "inchikey")
    return joined.toPandas()


def run_chemprop(
    *, frames: dict[str, pd.DataFrame], labels, kind: str, folder: Path, seed: int, epochs: int | None
) -> tuple[np.ndarray, float]:
    """Chemprop train (CLI defaults; ``epochs`` only for smoke runs) then predict on test.csv's SMILES; returns its
    test predictions in test.csv's row order and the wall seconds of both subprocesses. Output goes to folder/*.log."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in SPLITS}
    for name, frame in frames.items():
        frame.to_csv(paths[name], index=False)
    train = [str(CHEMPROP), "train", "--data-path", *(str(paths[name]) for name in SPLITS)]
    train += ["--task-type", kind, "--smiles-columns", "smiles", "--target-columns", *labels]
    train += ["--pytorch-seed", str(seed), "-o", str(folder / "model")]
    if epochs is not None:
        train += ["--epochs", str(epochs)]
    started = time.monotonic()
    _run(train, folder / "train.log", what=f"chemprop train ({len(frames['train'])} molecules)")
    (model,) = sorted((folder / "model").rglob("best.pt"))
    preds, molecules = folder / "test_preds.csv", folder / "test_smiles.csv"
    frames["test"][["smiles"]].to_csv(molecules, index=False)  # without labels: its output can only be predictions
    predict = [str(CHEMPROP), "predict", "--test-path", str(molecules), "--smiles-columns", "smiles"]
    predict += ["--model-paths", str(model), "--preds-path", str(preds)]
    _run(predict, folder / "predict.log", what="chemprop predict")
    seconds = time.monotonic() - started
    predicted = pd.read_csv(preds)
    if len(predicted) != len(frames["test"]) or list(predicted["smiles"]) != list(frames["test"]["smiles"]):
        raise RuntimeError(f"chemprop's predictions ({preds}) are not test.csv's molecules in its order")
    columns = [column for column in predicted.columns if column != "smiles"]
    if len(columns) != len(labels):
        raise RuntimeError(f"chemprop's predictions ({preds}) have columns {columns}, expected one per label")
    return predicted[columns].to_numpy(dtype=float), seconds


def _run(command: list[str], log: Path, *, what: str) -> None:
    started = time.monotonic()
    print(f"  {what} ... (log {log})", flush=True)
    with log.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{' '.join(command)}\n{tail}")
    print(f"  {what}: {time.monotonic() - started:.0f} s", flush=True)


def chemprop_version() -> str:
    from importlib.metadata import version

    return version("chemprop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="esol,tox21,hiv")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--models",
        default="fp-mlp,gnn",
        help="molpipe's models, MODEL-xN for an ensemble of N; chemberta pretrains first; '' for none",
    )
    parser.add_argument("--home", help="MOLPIPE_HOME to use and keep (default: a temporary one, removed)")
    parser.add_argument("--chemprop-epochs", type=int, help="default: Chemprop's own (smoke runs only)")
    parser.add_argument("--pretrained", help="folder of real ChemBERTa weights (skips `molpipe pretrain`)")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "reports" / "peers.json"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs --out already holds (same Chemprop version and epochs) and run only the missing ones: "
        "HIV's seeds take hours each, so they can be run over several sittings",
    )
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.models.tasks import metrics
    from molpipe.runtime.engine import session
    from molpipe.split.job import split

    if not CHEMPROP.exists():
        sys.exit(f"no chemprop next to {sys.executable}: pip install 'molpipe[bench]'")
    models = [model for model in args.models.split(",") if model]  # --models "": Chemprop alone
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="molpipe-peers-"))
    work = home / "chemprop"  # Chemprop's CSVs, models and logs, kept with a kept --home
    started_all = time.monotonic()
    runs = previous_runs(args) if args.resume else []  # one per dataset, seed and model
    done = {(r["dataset"], r["model"], r["seed"]) for r in runs}
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
                labels, kind, metric = case["labels"], case["kind"], case["metric"]
                for seed in range(args.seeds):
                    made = split(catalog, library=name, method="scaffold", pool_fraction=0.0, seed=seed)
                    rows = split_rows(catalog, name=name, split_id=made.split_id)
                    frames = chemprop_frames(rows, labels=labels, kind=kind)
                    counts = {split_name: len(frame) for split_name, frame in frames.items()}
                    print(f"{name} seed {seed}: split {made.split_id}, exported {counts}", flush=True)
                    test = rows[rows[list(labels)].notna().any(axis=1)].sort_values("inchikey")
                    test = test[test["split"] == "test"][list(labels)].to_numpy(dtype=float)
                    if (name, "chemprop", seed) not in done:
                        predictions, seconds = run_chemprop(
                            frames=frames,
                            labels=labels,
                            kind=kind,
                            folder=work / name / f"seed{seed}",
                            seed=seed,
                            epochs=args.chemprop_epochs,
                        )
                        score = metrics(predictions, test, kind)[metric]
                        runs.append(_run_row(name, "chemprop", seed, score, seconds, counts, {}))
                        write_report(args, runs, time.monotonic() - started_all)
                        print(f"{name} chemprop seed {seed}: test {metric} {score:.4f} ({seconds:.0f} s)", flush=True)
                    for model in (m for m in models if (name, m, seed) not in done):
                        print(f"  molpipe {model} ...", flush=True)
                        kind_name, ensemble = ensemble_spec(model)
                        summary, seconds = train_molpipe(
                            catalog,
                            name=name,
                            model=kind_name,
                            seed=seed,
                            split_id=made.split_id,
                            pretrained=pretrained,
                            ensemble=ensemble,
                        )
                        score = summary.test_metrics[metric]
                        extra = {key: summary.test_metrics.get(key) for key in CALIBRATION[kind]}
                        if summary.counts != counts:
                            print(f"  note: molpipe trained on {summary.counts}, chemprop on {counts}", flush=True)
                        runs.append(_run_row(name, model, seed, score, seconds, summary.counts, extra))
                        write_report(args, runs, time.monotonic() - started_all)
                        print(f"{name} {model} seed {seed}: test {metric} {score:.4f} ({seconds:.0f} s)", flush=True)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)

    table = write_report(args, runs, time.monotonic() - started_all)
    epochs = "Chemprop's default (50)" if args.chemprop_epochs is None else f"{args.chemprop_epochs} (smoke run)"
    print(
        f"\n== balanced scaffold split (molpipe's), seeds 0..{args.seeds - 1}; Chemprop {chemprop_version()}, "
        f"epochs {epochs}, classification labels by majority (>= 0.5 active); molpipe TrainConfig defaults"
    )
    print(f"{'dataset':<8} {'model':<10} {'metric':<8} {'mean +/- sd':<17} {'s/run':>7}  calibration (molpipe, test)")
    for row in table:
        calibration = ", ".join(f"{k} {v:.3f}" for k, v in row["calibration"].items())
        print(
            f"{row['dataset']:<8} {row['model']:<10} {row['metric']:<8} {row['mean']:.3f} +/- {row['sd']:.3f}"
            f"     {row['seconds_per_run']:>7.0f}  {calibration}"
        )
    print(f"wrote {args.out} ({time.monotonic() - started_all:.0f} s in all)")


def ensemble_spec(model: str) -> tuple[str, int]:
    """``fp-mlp-x5`` -> (``fp-mlp``, 5), the suffix ``molpipe train`` names an ensemble's run with; ``gnn`` -> (``gnn``,
    1)."""
    name, _, members = model.rpartition("-x")
    return (name, int(members)) if name and members.isdigit() and int(members) > 1 else (model, 1)


def previous_runs(args) -> list[dict]:
    """The runs of an earlier report at --out, when it was made with the same Chemprop and epochs (else none)."""
    out = Path(args.out)
    if not out.is_file():
        return []
    report = json.loads(out.read_text())
    if (report["chemprop"], report["chemprop_epochs"]) != (chemprop_version(), args.chemprop_epochs):
        sys.exit(f"{out} was made with Chemprop {report['chemprop']}, epochs {report['chemprop_epochs']}: not resumed")
    print(f"resuming {out}: {len(report['runs'])} runs kept", flush=True)
    return report["runs"]


def write_report(args, runs: list[dict], seconds: float) -> list[dict]:
    """The JSON report (rewritten after every run, so a stopped run keeps what finished); returns its table."""
    table = summarize(runs)
    report = {
        "command": " ".join(sys.argv),
        "chemprop": chemprop_version(),
        "chemprop_epochs": args.chemprop_epochs,
        "seeds": args.seeds,
        "classification_labels": "majority: averaged duplicate labels >= 0.5 are active (binary_targets)",
        "seconds_total": seconds,
        "table": table,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return table


def _run_row(dataset, model, seed, score, seconds, counts, calibration) -> dict:
    return {
        "dataset": dataset,
        "model": model,
        "seed": seed,
        "score": score,
        "seconds": seconds,
        "counts": counts,
        "calibration": calibration,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """One row per dataset and model: mean +/- sd of the test metric over seeds, mean wall seconds per run, and the
    mean of each calibration figure."""
    table = []
    for key in dict.fromkeys((r["dataset"], r["model"]) for r in runs):
        mine = [r for r in runs if (r["dataset"], r["model"]) == key]
        mean, sd = spread(r["score"] for r in mine)
        figures = {k for r in mine for k, v in r["calibration"].items() if v is not None}
        table.append(
            {
                "dataset": key[0],
                "model": key[1],
                "metric": CASES[key[0]]["metric"],
                "seeds": [r["seed"] for r in mine],
                "scores": [r["score"] for r in mine],
                "mean": mean,
                "sd": sd,
                "seconds_per_run": spread(r["seconds"] for r in mine)[0],
                "calibration": {k: spread(r["calibration"][k] for r in mine)[0] for k in sorted(figures)},
            }
        )
    return table


if __name__ == "__main__":
    main()
