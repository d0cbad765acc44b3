"""Scoring throughput: the molpipe score job end to end against a plain single-process loop, same model and
molecules, one run.

    python benchmarks/score.py --sizes 100000,1000000 [--pool FILE] [--uncertainty mc-dropout]

Setup (not timed): ESOL is ingested, featurized and used to train and promote a small ``fp-mlp`` (Morgan bits
only, so the pool needs only the cheapest featurizer); the first N molecules of the pool (default: the 1.58M ZINC
pool in ../shared/datasets) are ingested and featurized (``morgan``). Then, per size N:

  (a) plain loop: one Python process reads the pool's stored features from the Delta tables (``deltalake``) in
      Arrow batches and runs the same per-molecule work (prediction, MC-dropout uncertainty, applicability domain,
      :class:`molpipe.score.batch.ScoreChunk`) with torch on one thread;
  (b) the job: ``molpipe score`` on the embedded engine: pool in Delta -> ranked ``candidates`` in Delta.

It prints molecules/s, the ratio (b)/(a) per core used, how many cores were busy (machine CPU seconds / wall),
and peak memory (this process's RSS, which holds the engine, and the largest worker's).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATASETS = ROOT.parent / "shared" / "datasets"
MODEL = "bench_mlp"


def peak_rss_mib() -> tuple[float, float]:
    """Peak RSS of this process and of the largest reaped child, MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def plain_loop(catalog, library: str, chunk) -> tuple[int, float]:
    """The same work as the job, one process, one thread, features read straight from the Delta files."""
    import torch
    from deltalake import DeltaTable

    torch.set_num_threads(1)
    pool = DeltaTable(str(catalog.path("molecules"))).to_pyarrow_table(filters=[("library", "=", library)])
    features = DeltaTable(str(catalog.path("features"))).to_pyarrow_table(
        filters=[("library", "=", library), ("featurizer", "=", "morgan")], columns=["inchikey", "values"]
    )
    smiles = dict(zip(pool.column("inchikey").to_pylist(), pool.column("smiles").to_pylist()))
    started = time.monotonic()
    done = 0
    for batch in features.to_batches(max_chunksize=8192):
        rows = [
            {"inchikey": k, "smiles": smiles[k], "morgan": v}
            for k, v in zip(batch.column("inchikey").to_pylist(), batch.column("values").to_numpy(zero_copy_only=False))
        ]
        for start in range(0, len(rows), 256):
            chunk(rows[start : start + 256])
        done += len(rows)
    return done, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--pool", default=str(DATASETS / "moses_zinc" / "zinc_clean_leads_1.58M.csv.gz"))
    parser.add_argument("--uncertainty", default="mc-dropout")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from featurize import cpu_seconds, write_sample

    from molpipe import lifecycle, tracking
    from molpipe.config import ScoreOptions, load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.score.batch import ModelRef, ScoreChunk
    from molpipe.score.job import _training_index, _training_set, score
    from molpipe.spark import session
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    morgan = parse_featurizers("morgan")
    results = []
    with tempfile.TemporaryDirectory(prefix="molpipe-bench-score-") as tmp:
        settings = load_settings().replace(home=str(Path(tmp) / "home"))
        with session(settings) as (engine, catalog):
            ingest(catalog, DATASETS / "esol" / "delaney-processed.csv", "esol",
                   label_cols=["measured log solubility in mols per litre"])  # fmt: skip
            featurize(catalog, "esol", morgan, engine.udf_workers)
            split(catalog, "esol", "random", seed=0)
            config = TrainConfig(model="fp-mlp", model_params={"descriptors": False}, epochs=10)
            train(catalog, TrainRequest("esol", MODEL, num_processes=1), config)
            lifecycle.promote(MODEL, force=True)
            tracking.configure(settings)
            import mlflow

            version = mlflow.MlflowClient().get_model_version_by_alias(MODEL, "champion")
            ref = ModelRef(f"models:/{MODEL}/{version.version}", mlflow.get_tracking_uri(), mlflow.get_registry_uri())
            label = json.loads(version.tags["task"])["labels"][0]
            index, _ = _training_index(_training_set(catalog, "esol", version.tags["split_id"], label), 1, True)
            chunk = ScoreChunk(ref, index.to_bytes(), 0, args.uncertainty, ScoreOptions().mc_samples)
            for n in (int(x) for x in args.sizes.split(",")):
                library = f"zinc{n}"
                sample = Path(tmp) / f"{library}.csv"
                write_sample(Path(args.pool), n, sample)
                ingest(catalog, sample, library)
                featurize(catalog, library, morgan, engine.udf_workers)
                plain_n, plain_s = plain_loop(catalog, library, chunk)
                cpu0, t0 = cpu_seconds(), time.monotonic()
                options = ScoreOptions(acquisition="ucb", uncertainty=args.uncertainty)
                summary = score(catalog, library, f"{MODEL}@champion", options, engine.udf_workers)
                job_s, busy = time.monotonic() - t0, (cpu_seconds() - cpu0) / (time.monotonic() - t0)
                own, child = peak_rss_mib()
                row = {"n": n, "plain_per_s": plain_n / plain_s, "job_per_s": summary.scored / job_s,
                       "cores": engine.udf_workers, "cores_busy": busy, "peak_rss_mib": own,
                       "peak_child_rss_mib": child, "scored": summary.scored}  # fmt: skip
                row["ratio_per_core"] = row["job_per_s"] / (row["plain_per_s"] * row["cores"])
                results.append(row)
                print(f"N={n:,}: plain {row['plain_per_s']:.0f} mol/s; job {row['job_per_s']:.0f} mol/s on "
                      f"{row['cores']} cores ({busy:.2f} busy) = {row['ratio_per_core']:.2f} x plain per core "
                      f"(target >= 0.8); peak RSS {own:.0f} MiB (driver+engine), {child:.0f} MiB (largest child)",
                      flush=True)  # fmt: skip
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
