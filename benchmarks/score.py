"""Scoring throughput: the molpipe score job end to end against a plain single-process loop, same model and
molecules, one run.

    python benchmarks/score.py --sizes 100000,1000000 [--pool FILE] [--uncertainty mc-dropout]

Setup (not timed): ESOL is ingested, featurized and used to train and promote a small ``fp-mlp`` (Morgan bits
only, so the pool needs only the cheapest featurizer); the first N molecules of the pool (default: the 1.58M ZINC
pool in ../shared/datasets) are ingested and featurized (``morgan``). Then, per size N:

  (a) plain loop: one Python process reads the pool's stored features from the Delta tables (``deltalake``) in
      Arrow batches and runs the same per-molecule work (prediction, MC-dropout uncertainty, applicability domain,
      :class:`molpipe.score.batch.ScoreChunk`) with torch on one thread;
  (b) the job: ``molpipe score --json`` in its own process on the embedded engine: pool in Delta -> ranked
      ``candidates`` in Delta.

It prints molecules/s, the ratio (b)/(a) per core used, how many cores were busy (machine CPU seconds / wall),
and the job's peak memory (its process, which hosts the engine, and the largest of its worker processes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATASETS = ROOT.parent / "shared" / "datasets"
MODEL = "bench_mlp"


def run_job(home: str, library: str, uncertainty: str) -> tuple[dict, float, float]:
    """``molpipe score`` in a child process: its summary, wall seconds and peak RSS (MiB) of the largest process
    of its tree (the job itself, hosting the engine; its pool workers are smaller)."""
    env = {**os.environ, "MOLPIPE_HOME": home, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "molpipe", "score", "--library", library, "--model", f"{MODEL}@champion",
               "--acquisition", "ucb", "--uncertainty", uncertainty, "--json"]  # fmt: skip
    started = time.monotonic()
    # a fresh wrapper per job, so the peak is this job's (RUSAGE_CHILDREN only ever grows)
    result = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, env=env,
                            check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    peak = int(result.stderr.strip().splitlines()[-1].split("=")[1]) / 1024  # Linux: KiB
    return json.loads(result.stdout.strip().splitlines()[-1]), seconds, peak


_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(f'peak_rss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); sys.exit(code)"
)


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
    from molpipe.score.job import _training_index, _training_set
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
                summary, job_s, peak = run_job(settings.home, library, args.uncertainty)
                busy = (cpu_seconds() - cpu0) / (time.monotonic() - t0)
                row = {"n": n, "plain_per_s": plain_n / plain_s, "job_per_s": summary["scored"] / job_s,
                       "cores": engine.udf_workers, "cores_busy": busy, "job_peak_rss_mib": peak,
                       "scored": summary["scored"], "job_seconds": job_s}  # fmt: skip
                row["ratio_per_core"] = row["job_per_s"] / (row["plain_per_s"] * row["cores"])
                results.append(row)
                print(f"N={n:,}: plain {row['plain_per_s']:.0f} mol/s; job {row['job_per_s']:.0f} mol/s on "
                      f"{row['cores']} cores ({busy:.2f} busy) = {row['ratio_per_core']:.2f} x plain per core "
                      f"(target >= 0.8); job peak RSS {peak:.0f} MiB",
                      flush=True)  # fmt: skip
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
