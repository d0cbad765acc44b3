"""``molpipe demo`` (``make demo``): the pipeline so far, end to end, on the bundled MoleculeNet HIV library:
ingest, featurize, split, the default model trained with 2 DDP processes, validated and promoted to ``champion``,
the held-out pool scored into ``candidates`` and a lab batch of 24 picked into an HTML report."""

from __future__ import annotations

import argparse
import dataclasses
import time
from importlib import resources
from typing import Any

from molpipe.cli.common import job
from molpipe.config import Settings

LIBRARY = "hiv"
MODEL_NAME = "hiv_fp_mlp"
EXAMPLE_QUERY = (
    "SELECT s.split, count(*) AS molecules, round(avg(m.labels['HIV_active']), 4) AS active_rate "
    "FROM splits s JOIN molecules m ON s.library = m.library AND s.inchikey = m.inchikey "
    "WHERE s.library = 'hiv' GROUP BY s.split ORDER BY s.split"
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(
        sub,
        "demo",
        "the whole loop on the bundled MoleculeNet HIV library: ingest, featurize, split, query, train, "
        "validate, promote (forced if validation fails: a demo), score and pick a lab batch",
    )
    p.add_argument("--featurizers", help="default: the configured featurizers")
    p.set_defaults(handler=_demo)


def _demo(args, settings: Settings) -> dict[str, Any]:
    return run_demo(settings, args.featurizers, quiet=args.json)


def bundled_library() -> str:
    return str(resources.files("molpipe") / "data" / "hiv.csv.gz")


def run_demo(
    settings: Settings, featurizers: str | None = None, quiet: bool = False, *, library_file: str | None = None
) -> dict[str, Any]:
    """The loop end to end on ``library_file`` (default: the bundled MoleculeNet HIV), each step printed as the
    command that does it; returns every step's summary."""
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.lab.select import select
    from molpipe.models.tasks import Task
    from molpipe.registry import lifecycle, tracking
    from molpipe.runtime.engine import session
    from molpipe.score.job import score
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    say = (lambda *_: None) if quiet else print
    path = library_file or bundled_library()
    chosen = parse_featurizers(featurizers or settings.featurize.featurizers)
    started = time.monotonic()
    with session(settings) as (engine, catalog):
        say(f"== molpipe demo: MoleculeNet HIV ({path}), engine: {engine.kind}, {engine.udf_workers} worker(s)")
        say(f"$ molpipe ingest {path} --library {LIBRARY} --label-cols HIV_active")
        loaded = ingest(catalog, path=path, library=LIBRARY, label_cols=["HIV_active"])
        say(loaded.describe())
        say(f"$ molpipe featurize --library {LIBRARY} --featurizers {','.join(f.name for f in chosen)}")
        featurized = featurize(catalog, library=LIBRARY, featurizers=chosen, workers=engine.udf_workers)
        say(featurized.describe())
        say(f"$ molpipe split --library {LIBRARY} --split scaffold --pool-fraction 0.1 --seed 0")
        splits = split(catalog, library=LIBRARY, method="scaffold", pool_fraction=0.1, seed=0)
        say(splits.describe())
        say(f'$ molpipe sql "{EXAMPLE_QUERY}"')
        catalog.register_existing()  # the tables by name, as `molpipe sql` has them
        result = catalog.spark.sql(EXAMPLE_QUERY).toPandas()
        say(result.to_string(index=False))
        say(f"$ molpipe train --library {LIBRARY} --num-processes 2 --model-name {MODEL_NAME}")
        config = TrainConfig().for_task("classification")  # the default model, as `molpipe train` chooses it
        request = TrainRequest(LIBRARY, MODEL_NAME, ("HIV_active",), split_id=splits.split_id, num_processes=2)
        trained = train(catalog, request, config)
        say(trained.describe())
        say(f"$ molpipe validate --model {MODEL_NAME} && molpipe promote --model {MODEL_NAME}")
        validation = lifecycle.validate(catalog, name=trained.model_name, options=settings.validation)
        say(validation.describe())
        promoted = lifecycle.promote(trained.model_name, force=not validation.passed)
        say(promoted.describe() + ("" if validation.passed else " (forced: a demo promotes whatever validation says)"))
        say(f"$ molpipe score --library {LIBRARY} --model {MODEL_NAME}@champion --acquisition ucb")
        scored = score(
            catalog, library=LIBRARY, model=f"{MODEL_NAME}@champion", options=settings.score, workers=engine.udf_workers
        )
        say(scored.describe())
        say(f"$ molpipe select --run {scored.run_id} --k 24 --out reports")
        batch = select(
            catalog, run_id=scored.run_id, options=dataclasses.replace(settings.select, k=24), out_dir="reports"
        )
        say(batch.describe())
        tables = catalog.register_existing()
        locations = {name: catalog.location(name) for name in tables}
        versions = {name: catalog.version(name) for name in tables}
    say("Delta tables (readable by Spark, deltalake, polars):")
    for name in tables:
        say(f"  {name:<18} v{versions[name]:<3} {locations[name]}")
    uri = tracking.tracking_uri(settings)
    task = Task(tuple(trained.task["labels"]), trained.task["kind"])
    link = tracking.ui_link(
        experiment_id=trained.experiment_id,
        sort_metric=f"test_{task.primary_metric}",
        ascending=not task.higher_is_better,
    )
    say(f"MLflow UI (runs, plots, the registered model):  .venv/bin/mlflow ui --backend-store-uri {uri} --port 5000")
    say(f"  then open {link}")
    say(f'done in {time.monotonic() - started:.0f} s. Try: molpipe sql "SELECT * FROM quarantine LIMIT 5"')
    return {
        "ingest": dataclasses.asdict(loaded),
        "featurize": dataclasses.asdict(featurized) | {"accounted": featurized.accounted},
        "split": dataclasses.asdict(splits),
        "example_query": {"sql": EXAMPLE_QUERY, "rows": result.to_dict(orient="records")},
        "train": dataclasses.asdict(trained),
        "champion": {
            "model_name": trained.model_name,
            "version": promoted.champion,
            "validation_passed": validation.passed,
        },
        "score": dataclasses.asdict(scored),
        "select": dataclasses.asdict(batch),
        "mlflow_ui": f"mlflow ui --backend-store-uri {uri}",
        "mlflow_ui_link": link,
        "tables": locations,
        "seconds": round(time.monotonic() - started, 1),
    }
