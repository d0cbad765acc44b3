"""Every row accounted for, on every dataset in ../shared/datasets (the 1.58M ZINC pool and the SDF included).

    python benchmarks/count_invariant.py [--featurizers morgan] [--only hiv,sdf]

Each dataset is ingested into its own library and featurized; the script prints rows read, new molecules,
duplicates, quarantined rows by reason, whether molecules_new + duplicates + quarantined == rows_read (and every row
read is in exactly one of molecule_sources or quarantine: :func:`misplaced`), the wall
time and the peak resident memory of this process (the driver; with embedded Sail also the engine) and of the
worker processes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from labelled import DATASETS, TOX21_LABELS

CASES = {
    "hiv": ("hiv/hiv.csv.gz", {"label_cols": ["HIV_active"]}),
    "esol": (
        "esol/delaney-processed.csv",
        {"id_col": "Compound ID", "label_cols": ["measured log solubility in mols per litre"]},
    ),
    "tox21": (
        "tox21/tox21.csv",
        {"label_cols": list(TOX21_LABELS)},
    ),
    "sdf": ("sdf/solubility.train.sdf", {"id_col": "ID", "label_cols": ["SOL"]}),
    "zinc": ("moses_zinc/zinc_clean_leads_1.58M.csv.gz", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--featurizers", default="morgan")
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(CASES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.runtime.engine import session

    names = args.only.split(",") if args.only else list(CASES)
    home = Path(tempfile.mkdtemp(prefix="molpipe-invariant-"))
    results = []
    try:
        with session(load_settings().replace(home=str(home))) as (engine, catalog):
            for name in names:
                relative, roles = CASES[name]
                start = time.perf_counter()
                loaded = ingest(catalog, path=DATASETS / relative, library=name, **roles)
                summary = featurize(
                    catalog, library=name, featurizers=parse_featurizers(args.featurizers), workers=engine.udf_workers
                )
                seconds = time.perf_counter() - start
                row = {
                    "dataset": relative,
                    "rows_read": summary.rows_read,
                    "molecules_new": summary.molecules_new,
                    "duplicates": summary.duplicates,
                    "quarantined": summary.quarantined,
                    "reasons": summary.quarantine_reasons,
                    "accounted": summary.accounted
                    and loaded.rows_read == summary.rows_read
                    and misplaced(catalog, name) == 0,
                    "seconds": round(seconds, 1),
                    "peak_rss_mib": _peak_rss_mib(),
                }
                results.append(row)
                print(
                    f"{relative:<45} rows {row['rows_read']:>9,}  new {row['molecules_new']:>9,}  dup {row['duplicates']:>6,}  "
                    f"quarantined {row['quarantined']:>5,} {row['reasons']}  accounted: {row['accounted']}  "
                    f"{seconds:,.0f} s  driver peak RSS {row['peak_rss_mib']:,} MiB",
                    flush=True,
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(f"largest worker process peak RSS: {children:,} MiB")
    if args.json:
        print(json.dumps(results))
    if not all(r["accounted"] for r in results):
        raise SystemExit("count invariant violated")


def misplaced(catalog, library: str | None = None) -> int:
    """Input rows of featurized loads (``library_raw``) that are not in exactly one of ``molecule_sources`` or
    ``quarantine``, a row read twice counted too: 0 when every row is accounted for. By (library, load, row), not by
    counts, so a row lost and another duplicated do not cancel out."""
    from pyspark.sql import functions as F

    keys = ["library", "load_id", "source_row"]
    loads = catalog.read("loads").where(F.col("featurized_at").isNotNull())
    if library is not None:
        loads = loads.where(F.col("library") == library)
    raw = catalog.read("library_raw").join(loads.select("library", "load_id"), ["library", "load_id"], "left_semi")
    placed = catalog.read("molecule_sources").select(keys).unionByName(catalog.read("quarantine").select(keys))
    counts = (
        raw.groupBy(keys)
        .agg(F.count(F.lit(1)).alias("read"))
        .join(placed.groupBy(keys).agg(F.count(F.lit(1)).alias("placed")), keys, "left")
    )
    return counts.where((F.col("read") != 1) | F.coalesce(F.col("placed") != 1, F.lit(True))).count()


def _peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


if __name__ == "__main__":
    main()
