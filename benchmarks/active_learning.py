"""Active learning on MoleculeNet HIV: select -> reveal -> retrain, each arm against random selection.

    python benchmarks/active_learning.py [--arms ucb:sphere:drug-like,ucb:maxmin:drug-like,random:none:drug-like]
                                         [--rounds 3] [--initial 0.1] [--model fp-mlp] [--epochs 8]

An arm is ``strategy:diversity:filters[:similarity]``: the acquisition ``molpipe score`` ranks by, the diversity
step of ``molpipe select``, the filter profile it applies (``none``: no filter) and the Tanimoto threshold of
``sphere``/``butina`` (default ``[select] similarity``). HIV is ingested once per arm (its own
library, so the loops do not share a split) and featurized (Morgan bits). A balanced scaffold split keeps
``--initial`` of the labeled molecules for train/valid/test; the rest is the pool, its labels hidden from training.
Each round trains the model (``molpipe train``), scores the pool (``molpipe score`` with the strategy), picks the
batch (``molpipe select`` with the arm's diversity and filters, default ``[select]`` settings otherwise) and
"measures" it: the batch's true labels go back in as a results file through ``molpipe ingest-results``, which moves
those molecules from the pool into training for the next round. Batches are sized so that the selection covers 1 %
of the pool after the first round and 5 % after the last.

Reported per arm: actives found, the fraction of the pool's actives found, the enrichment factor at 1 % and 5 % of
the pool selected (hit rate of the selection / hit rate of the pool; random selection is ~1), the same against the
hit rate of the pool's drug-like molecules (what a filtered batch can reach: many of HIV's actives are dyes, metal
complexes and nucleosides the profile excludes), and the fraction of the picks that pass the default filter profile
(``drug-like``, as the scoring run judged them).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
LABEL = "HIV_active"


def batch_sizes(pool: int, rounds: int) -> list[int]:
    """First round 1 % of the pool; the others share the rest up to 5 %."""
    first, total = round(0.01 * pool), round(0.05 * pool)
    rest = [(total - first) // max(1, rounds - 1)] * (rounds - 1)
    if rest:
        rest[-1] += total - first - sum(rest)
    return [first, *rest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", default="ucb:sphere:drug-like,ucb:maxmin:drug-like,random:none:drug-like")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--initial", type=float, default=0.1, help="fraction of HIV labeled at the start")
    parser.add_argument("--model", default="fp-mlp")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from molpipe.cli.demo import bundled_library
    from molpipe.config import ScoreOptions, SelectOptions, load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.lab.results import ingest_results
    from molpipe.lab.select import select
    from molpipe.registry import lifecycle
    from molpipe.runtime.engine import session
    from molpipe.score.job import score
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    morgan = parse_featurizers("morgan")
    params = {"descriptors": False} if args.model == "fp-mlp" else {}
    results = []
    with tempfile.TemporaryDirectory(prefix="molpipe-bench-al-") as tmp:
        with session(load_settings().replace(home=str(Path(tmp) / "home"))) as (engine, catalog):
            for number_of_arm, arm in enumerate(args.arms.split(",")):
                strategy, diversity, filters, *threshold = arm.split(":")
                similarity = float(threshold[0]) if threshold else SelectOptions().similarity
                started = time.monotonic()
                library = f"hiv_arm{number_of_arm}"
                ingest(catalog, path=bundled_library(), library=library, label_cols=[LABEL])
                featurize(catalog, library=library, featurizers=morgan, workers=engine.udf_workers)
                split_id = split(
                    catalog, library=library, method="scaffold", pool_fraction=1 - args.initial, seed=0
                ).split_id
                truth = (
                    catalog.read("splits")
                    .where((F.col("library") == library) & (F.col("split") == "pool"))
                    .join(catalog.read("molecules").where(F.col("library") == library), "inchikey")
                    .select("inchikey", "smiles", F.col("labels")[LABEL].alias(LABEL))
                    .toPandas()
                )
                pool, pool_actives = len(truth), int((truth[LABEL] >= 0.5).sum())
                pool_rate = pool_actives / pool
                selected = hits = passing = 0
                trace = []
                for number, k in enumerate(batch_sizes(pool, args.rounds)):
                    config = TrainConfig(model=args.model, model_params=params, epochs=args.epochs, seed=number)
                    request = TrainRequest(library, f"al_{library}", (LABEL,), split_id=split_id, num_processes=1)
                    train(catalog, request, config)
                    lifecycle.promote(f"al_{library}", force=True)
                    scored = score(
                        catalog,
                        library=library,
                        model=f"al_{library}@champion",
                        options=ScoreOptions(acquisition=strategy, seed=number),
                        workers=engine.udf_workers,
                    )
                    batch = select(
                        catalog,
                        run_id=scored.run_id,
                        options=SelectOptions(k=k, diversity=diversity, similarity=similarity),
                        out_dir=Path(tmp) / "lab",
                        filters=filters,
                    )
                    if number == 0:  # the whole pool's verdicts: the hit rate a filtered batch can reach
                        verdicts = catalog.read("candidates").where(F.col("scoring_run_id") == scored.run_id)
                        drug_like = set(verdicts.where(F.col("passes_filters")).toPandas()["inchikey"])
                        inside = truth[truth["inchikey"].isin(drug_like)]
                        inside_rate = float((inside[LABEL] >= 0.5).mean())
                    picked = [row["inchikey"] for row in batch.batch]
                    measured = truth[truth["inchikey"].isin(picked)]
                    verdict = catalog.read("candidates").where(
                        (F.col("scoring_run_id") == scored.run_id) & F.col("inchikey").isin(picked)
                    )
                    passing += verdict.where(F.col("passes_filters")).count()
                    results_file = Path(tmp) / f"{library}-round{number}.csv"
                    measured[["smiles", LABEL]].to_csv(results_file, index=False)
                    ingest_results(
                        catalog,
                        path=results_file,
                        library=library,
                        featurizers=morgan,
                        workers=engine.udf_workers,
                        label_cols=[LABEL],
                        split_id=split_id,
                        batch_id=batch.batch_id,
                    )
                    selected += len(measured)
                    hits += int((measured[LABEL] >= 0.5).sum())
                    enrichment = (hits / selected) / (pool_actives / pool)
                    trace.append(
                        {
                            "round": number + 1,
                            "selected": selected,
                            "fraction": selected / pool,
                            "hits": hits,
                            "enrichment": enrichment,
                            "enrichment_in_profile": (hits / selected) / inside_rate,
                        }
                    )
                    print(
                        f"{arm} round {number + 1}: {selected:,} selected ({selected / pool:.1%} of the pool), "
                        f"{hits} actives, EF {enrichment:.2f} ({enrichment * pool_rate / inside_rate:.2f} against the "
                        f"drug-like pool), {passing / selected:.0%} pass drug-like",
                        flush=True,
                    )
                results.append(
                    {
                        "arm": arm,
                        "strategy": strategy,
                        "diversity": diversity,
                        "filters": filters,
                        "passing": passing / selected,
                        "pool": pool,
                        "pool_actives": pool_actives,
                        "rounds": trace,
                        "ef_1": trace[0]["enrichment"],
                        "ef_5": trace[-1]["enrichment"],
                        "ef_1_in_profile": trace[0]["enrichment_in_profile"],
                        "ef_5_in_profile": trace[-1]["enrichment_in_profile"],
                        "pool_drug_like": len(inside),
                        "pool_drug_like_actives": int((inside[LABEL] >= 0.5).sum()),
                        "hits": hits,
                        "found": hits / pool_actives,
                        "seconds": time.monotonic() - started,
                    }
                )
    print(f"\n== HIV active learning: {args.model}, {args.rounds} rounds, {args.initial:.0%} labeled at the start")
    random = next((r for r in results if r["strategy"] == "random"), None)
    for row in results:
        versus = f"  ({row['ef_5'] / random['ef_5']:.1f} x random)" if random and random["ef_5"] else ""
        print(
            f"  {row['arm']:<24} EF@1% {row['ef_1']:5.2f}  EF@5% {row['ef_5']:5.2f}  (against the drug-like pool: "
            f"{row['ef_1_in_profile']:.2f}, {row['ef_5_in_profile']:.2f})  actives found {row['hits']} = "
            f"{row['found']:.1%} of {row['pool_actives']} ({row['pool_drug_like_actives']} drug-like)  picks passing "
            f"drug-like {row['passing']:.0%}{versus}  ({row['seconds']:.0f} s)"
        )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
