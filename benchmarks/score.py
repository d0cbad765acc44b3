"""Scoring throughput: the molpipe score job end to end against a plain single-process loop, same model and
molecules, one run.

    python benchmarks/score.py --sizes 100000,1000000 [--pool FILE] [--uncertainty mc-dropout] [--baseline-rows N]
                               [--home DIR]  # keep (and reuse) the model and the featurized pools

Setup (not timed): ESOL is ingested, featurized and used to train and promote a small ``fp-mlp`` (Morgan bits
only, so the pool needs only the cheapest featurizer); the first N molecules of the pool (default: the 1.58M ZINC
pool in ../shared/datasets) are ingested and featurized (``morgan``). Then, per size N:

  (a) plain loop: one Python process reads the pool's stored features from the Delta tables (``deltalake``) and
      runs the same per-molecule work (prediction, MC-dropout uncertainty, applicability domain,
      :class:`molpipe.score.batch.ScoreChunk`) with torch on one thread, in chunks of 256, on the first
      ``--baseline-rows`` molecules (default 200,000: the loop's rate does not depend on the pool's size). It is
      timed before the job and again after it, and the ratios use the mean of the two rates: a virtual machine's
      speed can drift by several per cent within minutes, and a baseline taken on one side of the job only would
      carry that drift into the ratio (the run prints both);
  (a') the same plain loop as one process per core at once, each on its share of the pool: what the cores give
      when all of them are busy. On a virtual machine whose vCPUs share physical cores with other guests, two
      loops at once can do much less than twice the work of one (the run prints the factor), and no job on those
      cores can do better than (a');
  (b) the job: ``molpipe score --json`` in its own process on the embedded engine: pool in Delta -> ranked
      ``candidates`` in Delta. Morgan bits are cheap (``Featurizer.cheap``): the job's workers compute them from
      the SMILES, where the plain loops are handed the stored ones.

The target is set against (a) timed without its start, while (b)'s wall time includes the job's process start,
imports and setup. So the run also times (a)'s own start as a fresh process (imports, the model from the registry,
the pool's SMILES, a warm-up chunk) and gives (b) against (a) over the whole pool with that start included.

It prints molecules/s, the ratio (b)/(a) per core used, the ratio (b)/(a'), how many cores were busy (machine CPU
seconds / wall), the job's phases (setup, scoring, writing; its process start is in the wall time, not in these) and
its peak memory (the largest process of its tree: the job itself, which hosts the engine).
"""

from __future__ import annotations

import argparse
import contextlib
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
    command = [
        sys.executable,
        "-m",
        "molpipe",
        "score",
        "--library",
        library,
        "--model",
        f"{MODEL}@champion",
        "--acquisition",
        "ucb",
        "--uncertainty",
        uncertainty,
        "--json",
    ]
    started = time.monotonic()
    # a fresh wrapper per job, so the peak is this job's (RUSAGE_CHILDREN only ever grows)
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, env=env, check=False
    )
    seconds = time.monotonic() - started
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    peak = int(result.stderr.strip().splitlines()[-1].split("=")[1]) / 1024  # Linux: KiB
    return json.loads(result.stdout.strip().splitlines()[-1]), seconds, peak


_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(f'peak_rss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); sys.exit(code)"
)


def plain_loop(
    warehouse: str, library: str, chunk, shard: int = 0, shards: int = 1, barrier=None, limit: int = 0
) -> tuple[int, float]:
    """The same work as the job, one process, one thread: the pool's stored features streamed from the Delta files
    (``deltalake``, 8,192 rows a batch; every ``shards``-th batch from ``shard`` on), scored in chunks of 256. The
    model is loaded and warmed before the clock starts; with a ``barrier`` the clock starts when every shard's
    process is ready. ``limit``: stop after about that many molecules (all shards together; 0: the whole pool)."""
    import pyarrow.compute as pc
    import torch
    from deltalake import DeltaTable

    from molpipe.score.batch import arrow_rows

    torch.set_num_threads(1)
    pool = DeltaTable(f"{warehouse}/molecules").to_pyarrow_table(
        filters=[("library", "=", library)], columns=["inchikey", "smiles"]
    )
    smiles = dict(zip(pool.column("inchikey").to_pylist(), pool.column("smiles").to_pylist()))
    del pool
    features = DeltaTable(f"{warehouse}/features").to_pyarrow_dataset()
    wanted = (pc.field("library") == library) & (pc.field("featurizer") == "morgan")
    batches = features.to_batches(columns=["inchikey", "values"], filter=wanted, batch_size=8192)
    warm = arrow_rows(features.head(8, columns=["inchikey", "values"], filter=wanted).combine_chunks().to_batches()[0])
    chunk([{"inchikey": r["inchikey"], "smiles": smiles[r["inchikey"]], "morgan": r["values"]} for r in warm])
    if barrier is not None:
        barrier.wait()
    started, done = time.monotonic(), 0
    for i, batch in enumerate(batches):
        if i % shards != shard:
            continue
        rows = [
            {"inchikey": r["inchikey"], "smiles": smiles[r["inchikey"]], "morgan": r["values"]}
            for r in arrow_rows(batch)
        ]
        for start in range(0, len(rows), 256):
            chunk(rows[start : start + 256])
        done += len(rows)
        if limit and done * shards >= limit:
            break
    return done, time.monotonic() - started


def parallel_plain(warehouse: str, library: str, chunk, processes: int, limit: int = 0) -> tuple[int, float]:
    """``processes`` plain loops at once, one shard each, started together: what the machine's cores give the
    plain loop when all of them are busy (on a host whose cores share a physical core, much less than N x one)."""
    with _spawned(processes, processes) as (pool, barrier):
        futures = [
            pool.submit(plain_loop, warehouse, library, chunk, k, processes, barrier, limit) for k in range(processes)
        ]
        parts = [f.result() for f in futures]
    return sum(n for n, _ in parts), max(seconds for _, seconds in parts)


def plain_start(warehouse: str, library: str, chunk) -> float:
    """Seconds the plain loop spends before its clock starts when it runs as a process of its own, as the job does:
    a fresh interpreter, its imports, the model from the registry, the pool's SMILES and a warm-up chunk. (It then
    scores one batch, untimed, and stops.)"""
    with _spawned(1, 2) as (pool, barrier):
        started = time.monotonic()
        future = pool.submit(plain_loop, warehouse, library, chunk, barrier=barrier, limit=1)
        barrier.wait()
        seconds = time.monotonic() - started
        future.result()
    return seconds


@contextlib.contextmanager
def _spawned(processes: int, parties: int):
    """A pool of ``processes`` fresh interpreters and a barrier for ``parties`` of them (or of them and this one)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(processes, mp_context=context) as pool:
        yield pool, manager.Barrier(parties)


def _has_champion(client) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version_by_alias(MODEL, "champion")
        return True
    except MlflowException:
        return False


def _library_size(catalog, library: str) -> int:
    from pyspark.sql import functions as F

    try:
        return catalog.read("molecules").where(F.col("library") == library).count()
    except Exception:  # noqa: BLE001 (no molecules table yet in a new home)
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--pool", default=str(DATASETS / "moses_zinc" / "zinc_clean_leads_1.58M.csv.gz"))
    parser.add_argument("--uncertainty", default="mc-dropout")
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=200_000,
        help="molecules the plain loops score (per-molecule work does not change with the pool's size)",
    )
    parser.add_argument("--home", help="MOLPIPE_HOME to use and keep (default: a temporary one, removed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from featurize import cpu_seconds, write_sample

    from molpipe.chem.filters import Screen
    from molpipe.config import ScoreOptions, load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.registry import lifecycle, tracking
    from molpipe.registry.card import ModelCard
    from molpipe.registry.reference import PinnedModel
    from molpipe.runtime.engine import session
    from molpipe.score.batch import ScoreChunk
    from molpipe.score.job import _training_index
    from molpipe.split.job import split
    from molpipe.split.read import training_set
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    morgan = parse_featurizers("morgan")
    results = []
    with tempfile.TemporaryDirectory(prefix="molpipe-bench-score-") as tmp:
        settings = load_settings().replace(home=args.home or str(Path(tmp) / "home"))
        with session(settings) as (engine, catalog):
            tracking.configure(settings)
            import mlflow

            if not _has_champion(mlflow.MlflowClient()):
                ingest(
                    catalog,
                    path=DATASETS / "esol" / "delaney-processed.csv",
                    library="esol",
                    label_cols=["measured log solubility in mols per litre"],
                )
                featurize(catalog, library="esol", featurizers=morgan, workers=engine.udf_workers)
                split(catalog, library="esol", method="random", seed=0)
                config = TrainConfig(model="fp-mlp", model_params={"descriptors": False}, epochs=10)
                train(catalog, TrainRequest("esol", MODEL, num_processes=1), config)
                lifecycle.promote(MODEL, force=True)
            version = mlflow.MlflowClient().get_model_version_by_alias(MODEL, "champion")
            ref = PinnedModel.of(MODEL, version.version)
            card = ModelCard.of(version)
            training = training_set(catalog, library="esol", split_id=card.split_id, label=card.task.labels[0])
            index, _ = _training_index(training, 1, True)
            filters = settings.filters  # the job's own filters, so both sides do the same work per molecule
            screen = Screen.of(profile_name=filters.profile, alerts=filters.alerts, smarts_file=filters.smarts_file)
            chunk = ScoreChunk(ref, index.to_bytes(), 0, args.uncertainty, ScoreOptions().mc_samples, screen)
            for n in (int(x) for x in args.sizes.split(",")):
                library = f"zinc{n}"
                sample = Path(tmp) / f"{library}.csv"
                if not _library_size(catalog, library):  # a kept home already has it
                    write_sample(Path(args.pool), n, sample)
                    ingest(catalog, path=sample, library=library)
                    featurize(catalog, library=library, featurizers=morgan, workers=engine.udf_workers)
                warehouse, cores = str(catalog.path("molecules").parent), engine.udf_workers
                before_n, before_s = plain_loop(warehouse, library, chunk, limit=args.baseline_rows)
                all_n, all_s = parallel_plain(warehouse, library, chunk, cores, limit=args.baseline_rows)
                start_s = plain_start(warehouse, library, chunk)
                cpu0, t0 = cpu_seconds(), time.monotonic()
                summary, job_s, peak = run_job(settings.home, library, args.uncertainty)
                busy = (cpu_seconds() - cpu0) / (time.monotonic() - t0)
                after_n, after_s = plain_loop(warehouse, library, chunk, limit=args.baseline_rows)
                row = {
                    "n": n,
                    "plain_per_s": (before_n / before_s + after_n / after_s) / 2,
                    "plain_per_s_before": before_n / before_s,
                    "plain_per_s_after": after_n / after_s,
                    "plain_all_cores_per_s": all_n / all_s,
                    "job_per_s": summary["scored"] / job_s,
                    "cores": cores,
                    "cores_busy": busy,
                    "job_peak_rss_mib": peak,
                    "scored": summary["scored"],
                    "job_seconds": job_s,
                    "job_phases": summary["phases"],
                }
                row["core_scaling"] = row["plain_all_cores_per_s"] / (row["plain_per_s"] * cores)
                row["ratio_per_core"] = row["job_per_s"] / (row["plain_per_s"] * cores)
                row["ratio_to_all_cores_plain"] = row["job_per_s"] / row["plain_all_cores_per_s"]
                # (a) as a process of its own over the whole pool, its start included as the job's is
                row["plain_start_seconds"] = start_s
                row["plain_end_to_end_per_s"] = n / (start_s + n / row["plain_per_s"])
                row["ratio_per_core_end_to_end"] = row["job_per_s"] / (row["plain_end_to_end_per_s"] * cores)
                results.append(row)
                print(
                    f"N={n:,}: plain loop {row['plain_per_s']:.0f} mol/s on one core (before the job "
                    f"{row['plain_per_s_before']:.0f}, after it {row['plain_per_s_after']:.0f}), "
                    f"{row['plain_all_cores_per_s']:.0f} mol/s as {cores} loops at once (the cores scale "
                    f"{row['core_scaling']:.2f} x linear); job {row['job_per_s']:.0f} mol/s in {job_s:.1f} s "
                    f"({busy:.2f} cores busy; phases {summary['phases']}) = {row['ratio_per_core']:.2f} x the "
                    f"plain loop per core, {row['ratio_to_all_cores_plain']:.2f} x the plain loops on all cores "
                    f"(target >= 0.8); job peak RSS {peak:.0f} MiB. The plain loop as a process of its own takes "
                    f"{start_s:.1f} s to start: with its start, {row['plain_end_to_end_per_s']:.0f} mol/s over the "
                    f"pool, and the job does {row['ratio_per_core_end_to_end']:.2f} x that per core",
                    flush=True,
                )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
