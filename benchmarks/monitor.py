"""Drift monitoring on realistic sizes: what `molpipe monitor` measures for an in-distribution scoring run and for a
library from elsewhere, and what it costs.

    python benchmarks/monitor.py [--hiv-rows 10000] [--zinc-rows 5000] [--home DIR]

Setup (not timed): the first N rows of MoleculeNet HIV are ingested, featurized (morgan, rdkit2d) and split
(random, 20 % of the labeled molecules held out into the pool); an fp-mlp is trained and promoted; it scores
HIV's pool (in distribution) and the first M molecules of the MOSES ZINC clean-leads pool (featurized the same
way; drug-like leads, a different population from HIV's screening compounds). Timed: `monitor` of each run
(reference descriptors and held-out predictions computed once for the model version, then cached).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATASETS = ROOT.parent / "shared" / "datasets"


def head(source: Path, rows: int, out: Path) -> Path:
    with gzip.open(source, "rt") as src, out.open("w") as dst:
        dst.writelines(itertools.islice(src, rows + 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hiv-rows", type=int, default=10_000)
    parser.add_argument("--zinc-rows", type=int, default=5_000)
    parser.add_argument(
        "--home",
        help="keep the tables here (default: a temporary folder); "
        "one that has scoring runs already is reused as it is (only the monitoring is timed)",
    )
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.monitor.job import monitor
    from molpipe.runtime.engine import session

    work = Path(args.home or tempfile.mkdtemp(prefix="molpipe-monitor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings().replace(home=str(work / "home"))
    with session(settings) as (engine, catalog):
        if (settings.home_path / "warehouse" / "candidates" / "_delta_log").is_dir():
            rows = catalog.read("candidates").groupBy("library", "scoring_run_id").count().collect()
            runs = {row["library"]: row["scoring_run_id"] for row in rows}
        else:
            runs = setup(args, work, catalog, engine)
        results = {}
        for name, run_id in runs.items():
            started = time.monotonic()
            summary = monitor(catalog, options=settings.monitor, run=run_id, out=work / "reports")
            (result,) = summary.runs
            results[name] = {
                "seconds": round(time.monotonic() - started, 1),
                "scored": result["scored"],
                "drifted": result["drifted"],
                "retrain": result["retrain"],
                "reasons": result["reasons"],
                "measures": result["measures"],
                "report": result["report"],
            }
    print(json.dumps(results, indent=1))


def setup(args, work: Path, catalog, engine) -> dict[str, str]:
    """HIV and ZINC ingested and featurized, a model trained on HIV, one scoring run of each; run ids by library."""
    from molpipe.config import ScoreOptions
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.registry import lifecycle
    from molpipe.score.job import score
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    featurizers = parse_featurizers("morgan,rdkit2d")
    started = time.monotonic()
    hiv = head(DATASETS / "hiv" / "hiv.csv.gz", args.hiv_rows, work / "hiv.csv")
    zinc = head(DATASETS / "moses_zinc" / "zinc_clean_leads_1.58M.csv.gz", args.zinc_rows, work / "zinc.csv")
    ingest(catalog, path=hiv, library="hiv", label_cols=["HIV_active"])
    featurize(catalog, library="hiv", featurizers=featurizers, workers=engine.udf_workers)
    split(catalog, library="hiv", method="random", pool_fraction=0.2, seed=0)
    config = TrainConfig(model="fp-mlp", model_params={"hidden": 256}, epochs=5, batch_size=128, patience=3)
    train(catalog, TrainRequest("hiv", "hiv_mlp", num_processes=1), config)
    lifecycle.promote("hiv_mlp", force=True)
    ingest(catalog, path=zinc, library="zinc")
    featurize(catalog, library="zinc", featurizers=featurizers, workers=engine.udf_workers)
    options = ScoreOptions(acquisition="ucb", mc_samples=4)
    runs = {
        name: score(catalog, library=name, model="hiv_mlp@champion", options=options, workers=engine.udf_workers)
        for name in ("hiv", "zinc")
    }
    print(
        f"setup {time.monotonic() - started:.0f} s: scored " + ", ".join(f"{k} {v.scored:,}" for k, v in runs.items()),
        flush=True,
    )
    return {name: run.run_id for name, run in runs.items()}


if __name__ == "__main__":
    main()
