"""What `molpipe maintain` buys a reader of `features`: its file count and full-read time before and after.

    python benchmarks/maintain.py [--n 100000] [--rounds 4] [--featurizers morgan] [--repeat 3] [--json]

Setup (not timed): the first N SMILES of the pool (default: the 1.58M-molecule ZINC pool in ../shared/datasets), cut
into ROUNDS files, each ingested and featurized in its own round, as a library grows load by load: each round adds
its own files to every partition of `features`. Timed, best of REPEAT, before and after `maintain` (itself timed):
`count()` of `features` and a full scan (the sum of every row's vector length, which reads every value). The engine is
the configured one (`MOLPIPE_ENGINE=spark` for Apache Spark with Delta).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_POOL = ROOT.parent / "shared" / "datasets" / "moses_zinc" / "zinc_clean_leads_1.58M.csv.gz"


def write_rounds(pool: Path, n: int, rounds: int, folder: Path) -> list[Path]:
    """The first ``n`` rows of ``pool`` in ``rounds`` consecutive files of (nearly) equal size."""
    with (gzip.open if pool.suffix == ".gz" else open)(pool, "rt") as handle:
        header, *rows = itertools.islice(handle, n + 1)
    if len(rows) < n:
        raise SystemExit(f"{pool} has only {len(rows)} molecules")
    paths, size = [], -(-n // rounds)
    for i in range(rounds):
        path = folder / f"round_{i}.csv"
        path.write_text(header + "".join(rows[i * size : (i + 1) * size]))
        paths.append(path)
    return paths


def read_times(catalog, repeat: int) -> dict:
    """Best-of-``repeat`` seconds of a count and of a full scan of `features`."""
    from pyspark.sql import functions as F

    def best(query) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            query()
            times.append(time.perf_counter() - start)
        return round(min(times), 3)

    features = catalog.read("features")
    return {"count_s": best(features.count), "scan_s": best(features.select(F.sum(F.size("values"))).collect)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="molecules (default 100000)")
    parser.add_argument("--rounds", type=int, default=4, help="ingest + featurize rounds the library grows in")
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL, help="CSV(.gz) of SMILES to take molecules from")
    parser.add_argument("--featurizers", default="morgan")
    parser.add_argument("--repeat", type=int, default=3, help="reads per measurement (the best is kept)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.lake.maintain import maintain
    from molpipe.runtime.engine import session

    home = Path(tempfile.mkdtemp(prefix="molpipe-bench-maintain-"))
    settings = load_settings().replace(home=str(home / "home"))
    try:
        with session(settings) as (engine, catalog):
            start = time.perf_counter()
            for path in write_rounds(args.pool, args.n, args.rounds, home):
                ingest(catalog, path=path, library="bench")
                featurize(
                    catalog,
                    library="bench",
                    featurizers=parse_featurizers(args.featurizers),
                    workers=engine.udf_workers,
                )
            build_s = round(time.perf_counter() - start, 1)
            before = read_times(catalog, args.repeat)
            summary = maintain(catalog, engine_kind=engine.kind, options=settings.maintain)
            after = read_times(catalog, args.repeat)
            rows = catalog.read("features").count()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    features = next(t for t in summary.tables if t.table == "features")
    result = {
        "n": args.n,
        "rounds": args.rounds,
        "featurizers": args.featurizers,
        "engine": engine.kind,
        "method": summary.method,
        "feature_rows": rows,
        "build_s": build_s,
        "files_before": features.files_before,
        "files_after": features.files_after,
        "bytes_before": features.bytes_before,
        "bytes_after": features.bytes_after,
        "read_before": before,
        "read_after": after,
        "maintain_features_s": features.seconds,
        "maintain_s": summary.seconds,
    }
    print(
        f"features of {args.n:,} molecules in {args.rounds} rounds ({engine.kind}, {summary.method}): "
        f"{features.files_before} -> {features.files_after} files; count {before['count_s']:.3f} -> "
        f"{after['count_s']:.3f} s, full scan {before['scan_s']:.3f} -> {after['scan_s']:.3f} s; maintain "
        f"{summary.seconds:.1f} s ({features.seconds:.1f} s of it on features)",
        flush=True,
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
