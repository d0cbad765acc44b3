"""Featurization throughput: the molpipe featurize job end to end against a plain RDKit loop, same molecules, one run.

    python benchmarks/featurize.py --n 10000 [--n 100000] [--featurizers morgan,rdkit2d,maccs,graph] [--inline]
                                   [--engine sail,spark,cluster]

For each size N it takes the first N SMILES of the pool (default: the 1.58M-molecule ZINC pool in
../shared/datasets) and measures, in this order:

  (a) plain loop: one Python process, for each SMILES: standardize, InChIKey, scaffold, then every featurizer;
  (b) the job:    `molpipe ingest` + `molpipe featurize` into Delta on the embedded engine, chemistry fanned out
                  to one worker process per core (molpipe.runtime.parallel);
  (c) --inline:   the same job with workers=1, i.e. what Sail's single UDF interpreter gives without the pool.

``--engine`` runs (b) on each engine named: ``sail`` (embedded), ``spark`` (Apache Spark + Delta, ``local[*]``:
Spark's own Python workers, one per core) and ``cluster`` (``local-cluster[2,1,1536]``: two executor processes).
Each engine's start-up is reported apart from the throughput (its jars are resolved beforehand, once).

It prints molecules/s, the ratio (b)/(a), the cores used and how many of them were busy (machine CPU seconds / wall),
against the target (b) >= 0.9 x (a) x cores.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_POOL = ROOT.parent / "shared" / "datasets" / "moses_zinc" / "zinc_clean_leads_1.58M.csv.gz"


def cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (Linux /proc/stat). Pool workers are children of the
    forkserver, not of this process, so getrusage cannot see them; run the benchmark on an otherwise idle machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def write_sample(pool: Path, n: int, out: Path) -> list[str]:
    opener = gzip.open if pool.suffix == ".gz" else open
    with opener(pool, "rt") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [row for _, row in zip(range(n), reader)]
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    column = next(i for i, name in enumerate(header) if "smiles" in name.lower())
    return [row[column] for row in rows]


def plain_loop(smiles: list[str], featurizer_text: str) -> dict:
    from rdkit import Chem

    from molpipe.chem.standardize import Standardized, standardize_structure
    from molpipe.featurize import parse_featurizers

    featurizers = parse_featurizers(featurizer_text)
    start, cpu = time.perf_counter(), cpu_seconds()
    seen, computed = set(), 0
    for text in smiles:
        outcome = standardize_structure(text)
        if not isinstance(outcome, Standardized) or outcome.inchikey in seen:
            continue
        seen.add(outcome.inchikey)
        mol = Chem.MolFromSmiles(outcome.smiles)
        for featurizer in featurizers:
            featurizer.compute(mol)
        computed += 1
    wall = time.perf_counter() - start
    return {
        "seconds": wall,
        "mol_per_s": len(smiles) / wall,
        "cpu_busy": (cpu_seconds() - cpu) / wall,
        "molecules": computed,
    }


ENGINES = {
    "sail": {},
    "spark": {"engine": "spark", "spark_master": "local[*]"},
    "cluster": {"engine": "spark", "spark_master": "local-cluster[2,1,1536]"},
}


def job(sample: Path, n: int, featurizer_text: str, workers: int, engine_name: str = "sail") -> dict:
    from molpipe.config import load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.runtime.engine import session

    home = Path(tempfile.mkdtemp(prefix="molpipe-bench-"))
    settings = load_settings().replace(home=str(home), workers=workers, **ENGINES[engine_name])
    try:
        with session(settings) as (engine, catalog):
            catalog.ensure("loads")  # table creation is set-up, not throughput
            start, cpu = time.perf_counter(), cpu_seconds()
            ingest(catalog, path=sample, library="bench")
            summary = featurize(
                catalog, library="bench", featurizers=parse_featurizers(featurizer_text), workers=engine.udf_workers
            )
            wall = time.perf_counter() - start
            busy = (cpu_seconds() - cpu) / wall
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert summary.rows_read == n and summary.accounted, summary
    return {
        "seconds": wall,
        "mol_per_s": n / wall,
        "cpu_busy": busy,
        "molecules": summary.molecules_new,
        "workers": engine.udf_workers,
        "partitions": engine.udf_partitions,
        "startup_s": engine.startup_s,
        "engine": engine_name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="molecules (repeatable; default 10000)")
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL, help="CSV(.gz) of SMILES to take molecules from")
    parser.add_argument("--featurizers", default="morgan,rdkit2d,maccs,graph")
    parser.add_argument("--inline", action="store_true", help="also run the job without the process pool")
    parser.add_argument("--engine", default="sail", help="comma-separated: sail, spark, cluster (default sail)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    engines = [name.strip() for name in args.engine.split(",") if name.strip()]
    if unknown := set(engines) - set(ENGINES):
        raise SystemExit(f"--engine: unknown {', '.join(sorted(unknown))}; known: {', '.join(ENGINES)}")
    cores = os.cpu_count() or 1
    results = []
    for n in args.n or [10_000]:
        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / f"pool_{n}.csv"
            smiles = write_sample(args.pool, n, sample)
            if len(smiles) < n:
                raise SystemExit(f"{args.pool} has only {len(smiles)} molecules")
            print(
                f"== {n:,} molecules from {args.pool.name}, featurizers {args.featurizers}, {cores} cores", flush=True
            )
            plain = plain_loop(smiles, args.featurizers)
            print(
                f"(a) plain RDKit loop, 1 process : {plain['mol_per_s']:8.1f} mol/s  ({plain['seconds']:.1f} s)",
                flush=True,
            )
            row = {"n": n, "cores": cores, "featurizers": args.featurizers, "plain": plain, "target_ratio": 0.9 * cores}
            for name in engines:
                run = job(sample, n, args.featurizers, workers=0, engine_name=name)
                with_start = n / (run["seconds"] + run["startup_s"])
                print(
                    f"(b) molpipe job into Delta, {name:7s}: {run['mol_per_s']:8.1f} mol/s  ({run['seconds']:.1f} s, "
                    f"{run['workers']} UDF workers x {run['partitions'] or 'engine'} partitions, "
                    f"{run['cpu_busy']:.2f} of {cores} cores busy; start-up {run['startup_s']:.1f} s, "
                    f"{with_start:.1f} mol/s with it) = {run['mol_per_s'] / plain['mol_per_s']:.2f} x (a)",
                    flush=True,
                )
                row[name] = run | {"ratio": run["mol_per_s"] / plain["mol_per_s"]}
            pooled = row[engines[0]]
            row |= {"job": pooled, "ratio": pooled["ratio"]}
            if args.inline:
                inline = job(sample, n, args.featurizers, workers=1)
                print(
                    f"(c) job, Sail's one interpreter : {inline['mol_per_s']:8.1f} mol/s  ({inline['seconds']:.1f} s)"
                )
                row["inline"] = inline
                row["inline_ratio"] = inline["mol_per_s"] / plain["mol_per_s"]
            verdict = "meets" if row["ratio"] >= row["target_ratio"] else "misses"
            print(
                f"ratio (b)/(a) = {row['ratio']:.2f}  target >= 0.9 x {cores} = {row['target_ratio']:.2f}: {verdict}"
                + (f"; (c)/(a) = {row['inline_ratio']:.2f}" if args.inline else ""),
                flush=True,
            )
            results.append(row)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
