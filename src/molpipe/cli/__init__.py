"""The ``molpipe`` command. Every job command accepts ``--json`` and then ends stdout with one JSON object."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
from typing import Any, Callable, NoReturn, Sequence

from molpipe.config import Settings, load_settings

COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], dict[str, Any]]] = {}


def command(name: str):
    def decorate(fn):
        COMMANDS[name] = fn
        return fn

    return decorate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="molpipe", description="HTS library in, ranked candidate molecules out.")
    parser.add_argument("--home", help="where local tables live (default $MOLPIPE_HOME or ./.molpipe)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def job(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--json", action="store_true", help="print one JSON summary object as the last line")
        return p

    p = job("ingest", "read a library file (CSV, CSV.gz, TSV, SMILES, SDF, SDF.gz, Parquet) into library_raw")
    p.add_argument("path")
    p.add_argument("--library", required=True, help="library name (letters, digits, '_', '-')")
    p.add_argument("--smiles-col", help="column holding SMILES (auto-detected when unambiguous; SDF: the molblock)")
    p.add_argument("--id-col", help="column holding the compound id")
    p.add_argument("--label-cols", default="", help="comma-separated numeric label columns")
    p.add_argument("--format", choices=["csv", "tsv", "smi", "sdf", "parquet"], help="override the extension")

    p = job("landing", "hand each file waiting in a landing folder to a command (ingest, ingest-results), then "
                       "move it out to _processed/ or _failed/ beside the folder (file-arrival jobs)")  # fmt: skip
    p.add_argument("folder")
    p.add_argument("--then", required=True, choices=["ingest", "ingest-results"], help="the command for each file")
    p.add_argument("--library", required=True)
    for flag in ("--smiles-col", "--id-col", "--label-cols", "--format"):
        p.add_argument(flag, help=f"passed on to the command as {flag}")

    p = job("featurize", "standardize, de-duplicate and featurize a library's pending loads")
    p.add_argument("--library", required=True)
    p.add_argument("--featurizers", help="comma-separated featurizer names (default: morgan,rdkit2d,maccs,graph); "
                                         "parameters after colons, e.g. morgan:radius=3:n_bits=1024")  # fmt: skip
    p.add_argument("--workers", type=int, help="worker processes for the chemistry (default: auto)")

    p = job("split", "assign train/valid/test and the unlabeled/held-out pool")
    p.add_argument("--library", required=True)
    p.add_argument("--split", dest="method", choices=["scaffold", "random"], help="default: scaffold")
    p.add_argument("--pool-fraction", type=float, help="fraction of labeled molecules held out into the pool")
    p.add_argument("--seed", type=int)
    p.add_argument("--fractions", help="train,valid,test fractions (default 0.8,0.1,0.1)")

    p = job("sql", "run SQL over molpipe's tables by name")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")

    job("tables", "list molpipe's tables with their location, Delta version and row count")

    p = job("maintain", "compact molpipe's Delta tables (OPTIMIZE) and delete the files no version within the "
                        "retention needs (VACUUM, after maintain.retention_hours); report files and commits")  # fmt: skip
    p.add_argument("--library", help="compact only this library's partitions (VACUUM is table-wide)")

    def training(p: argparse.ArgumentParser) -> None:
        p.add_argument("--library", required=True)
        p.add_argument("--model", default="gnn", help="architecture: fp-mlp, gnn, chemberta (default gnn)")
        p.add_argument("--model-name", help="registered model name (default <library>_<model>)")
        p.add_argument("--labels", help="comma-separated labels (default: every label of the library)")
        p.add_argument("--task", choices=["classification", "regression"], help="default: inferred from the labels")
        p.add_argument("--split-id", help="default: the library's latest split")
        p.add_argument("--epochs", type=int, default=30)
        p.add_argument("--batch-size", type=int, default=64)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--patience", type=int, default=8, help="epochs without validation improvement before stopping")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--num-processes", type=int, default=2, help="DDP processes (TorchDistributor); 1 runs in-line")
        p.add_argument("--placement", choices=["driver", "executors"], default="driver",
                       help="where the DDP processes run: on the driver (default) or one per executor task slot "
                            "(a cluster; each rank reads its shard from $MOLPIPE_HOME)")  # fmt: skip
        p.add_argument("--ensemble", type=int, default=1,
                       help="members trained with successive seeds; their spread is the uncertainty (default 1)")  # fmt: skip
        p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="model hyperparameter, repeatable (e.g. --param hidden=300 --param layers=5)")  # fmt: skip

    training(job("train", "train a model on a featurized, split library; log it to MLflow and register a new version"))
    p = job("tune", "Optuna search (nested MLflow runs); the best configuration is trained and registered")
    training(p)
    p.add_argument("--trials", type=int, default=20)

    p = job("pretrain", "masked-language-model pretraining of a SMILES RoBERTa on the library (for --model chemberta)")
    p.add_argument("--library", required=True)
    p.add_argument("--out", help="output folder (default $MOLPIPE_HOME/pretrained/<library>)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)

    for name, help in [("validate", "score challenger and champion on the test split; pass or fail by config"),
                       ("promote", "move the champion alias to the validated challenger"),
                       ("rollback", "restore the previous champion")]:  # fmt: skip
        p = job(name, help)
        p.add_argument("--model", required=True, help="registered model name")
        if name != "rollback":
            p.add_argument("--version", help="the challenger version expected (a job's train task hands it on)")
        if name == "promote":
            p.add_argument("--force", action="store_true", help="promote without a passed validation")

    p = job("score", "score the library's pool with a registered model into the candidates table, ranked")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True, help="NAME@alias, NAME/VERSION or NAME (its champion)")
    p.add_argument("--acquisition", help="greedy, ucb, ei, thompson or random (default: [score] acquisition)")
    p.add_argument("--uncertainty", choices=["auto", "ensemble", "mc-dropout", "none"])
    p.add_argument("--direction", choices=["maximize", "minimize"], help="which predicted values are wanted")
    p.add_argument("--label", help="label to score (multi-task models; default the first)")
    p.add_argument("--split-id", help="split whose pool is scored (default: the model's, or the library's latest)")
    p.add_argument("--run-id", help="re-run this scoring run (its rows are replaced)")
    p.add_argument("--workers", type=int, help="worker processes (default: auto)")

    p = job("select", "pick the lab batch from a scoring run: CSV + HTML report with depictions")
    p.add_argument("--run", required=True, help="scoring run id (see the candidates table)")
    p.add_argument("--k", type=int, help="molecules in the batch (default: [select] k)")
    p.add_argument("--strategy", help="acquisition to rank by (default: the run's own)")
    p.add_argument("--diversity", choices=["maxmin", "scaffold", "none"])
    p.add_argument("--out", default="reports", help="folder for the batch files (default ./reports)")

    p = job("ingest-results", "merge the lab's measurements back: history, labels, and training for the next model")
    p.add_argument("path")
    p.add_argument("--library", required=True)
    p.add_argument("--label-cols", required=True, help="comma-separated measured columns")
    p.add_argument("--smiles-col")
    p.add_argument("--id-col")
    p.add_argument("--split-id", help="split whose pool the measured molecules leave (default: the latest)")
    p.add_argument("--batch-id", help="the lab batch these results answer (from `molpipe select`)")
    p.add_argument("--workers", type=int)

    p = job("monitor", "drift of scoring runs against the model's training data into the monitoring table, MLflow "
                       "and a PNG report; flags a retrain past the [monitor] thresholds")  # fmt: skip
    p.add_argument("--library", help="only this library's scoring runs")
    p.add_argument("--run", help="one scoring run id (default: every scoring run not monitored yet)")
    p.add_argument("--out", help="folder for the PNG reports (default $MOLPIPE_HOME/reports/monitor)")

    p = job(
        "quality-monitor", "create (once) and refresh the Lakehouse Monitoring quality monitor on a table (Databricks)"
    )
    p.add_argument("--table", default="candidates", help="molpipe table to monitor (default candidates)")
    p.add_argument("--assets-dir", required=True, help="workspace folder for the monitor's dashboard")
    p.add_argument("--granularity", default="1 day", help="time window of the profile metrics (default '1 day')")
    p.add_argument("--no-refresh", dest="refresh", action="store_false", help="create the monitor only")
    p.add_argument("--profile", help="~/.databrickscfg profile (default: the SDK's own authentication)")

    p = job(
        "status", "the deployed pipeline on Databricks: jobs and their last runs, the serving endpoint, the champion"
    )
    p.add_argument(
        "--model", help="registered model: catalog.schema.name, or a name in $MOLPIPE_CATALOG.$MOLPIPE_SCHEMA"
    )
    p.add_argument("--endpoint", help="serving endpoint name (default: <model name>-champion when --model is given)")
    p.add_argument(
        "--tag", default="project=molpipe", help="KEY=VALUE tag of the bundle's jobs (default project=molpipe)"
    )
    p.add_argument("--profile", help="~/.databrickscfg profile (default: the SDK's own authentication)")

    p = job("demo", "ingest, featurize and split the bundled MoleculeNet HIV library, then query it")
    p.add_argument("--featurizers", help="default: the configured featurizers")

    # a long-running service, not a job: no --json summary
    help = "REST API for SMILES predictions from a registered model; follows the alias when it moves"
    p = sub.add_parser("serve", help=help, description=help)
    p.add_argument("--model", help="NAME@alias (watched), NAME/version or NAME (= NAME@champion); default serve.model")
    p.add_argument("--host", help="interface to listen on (default serve.host: 127.0.0.1)")
    p.add_argument("--port", type=int, help="default serve.port: 8000")
    p.add_argument(
        "--workers", type=int, help="prediction processes: 0 (default) one per core; N a pool of N; 1 the server's own"
    )
    p.add_argument("--threads", type=int, help="with --workers 1: prediction threads in the server (default 8)")
    p.add_argument(
        "--micro-batch",
        type=int,
        help="molecules of waiting requests predicted in one call while busy (default 1: off)",
    )
    p.add_argument("--poll-s", type=float, help="seconds between registry checks of the alias (0: never)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return execute(argv)[0]


def entry() -> NoReturn:
    """The ``molpipe`` command (console script, ``python -m molpipe``)."""
    _exit(main())


def _exit(code: int) -> NoReturn:
    """End the process with ``code``, after freezing the heap out of the interpreter's last garbage collection,
    which walks every object MLflow, pandas and Spark Connect created only for the OS to reclaim them anyway: 1-2 s
    at the end of every job (measured after a score run)."""
    gc.freeze()
    sys.exit(code)


def execute(argv: Sequence[str] | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run one command: its exit status and its summary (None when it failed)."""
    args = build_parser().parse_args(argv)
    settings = load_settings()
    if args.home:
        settings = settings.replace(home=args.home)
    try:
        summary = COMMANDS[args.command](args, settings)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"molpipe {args.command}: error: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": message, "command": args.command}))
        return 2, None
    if getattr(args, "json", False):
        print(json.dumps(_with_engine(summary), default=str))
    return 0, summary


def _with_engine(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with the engine its command started (the last, where a command started several)."""
    from molpipe.runtime.engine import started_engines

    started = started_engines()
    return {**summary, "engine": started[-1]} if started else summary


def run_job(command_name: str) -> None:
    """Entry point of a job task (``jobs/<command>.py``): the command's own arguments, its exit status; on
    Databricks the summary's scalars become task values for the tasks after it (:mod:`molpipe.databricks.task_values`)."""
    from molpipe.databricks import task_values

    code, summary = execute([command_name, *sys.argv[1:]])
    if summary is not None:
        task_values.publish(summary)
    _exit(code)


def _asdict(summary: Any) -> dict[str, Any]:
    return dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else dict(summary)


@command("ingest")
def _ingest(args, settings: Settings) -> dict[str, Any]:
    from molpipe.ingest.job import ingest
    from molpipe.runtime.engine import session

    labels = [c.strip() for c in args.label_cols.split(",") if c.strip()]
    with session(settings) as (_, catalog):
        summary = ingest(catalog, args.path, args.library, args.format, args.smiles_col, args.id_col, labels)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("landing")
def _landing(args, settings: Settings) -> dict[str, Any]:
    from molpipe.ingest.landing import process_landing

    forwarded = ["--library", args.library]
    for flag in ("smiles_col", "id_col", "label_cols", "format"):
        if getattr(args, flag) is not None:
            forwarded += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    if args.then not in COMMANDS:
        raise ValueError(f"this molpipe has no '{args.then}' command")
    parser = build_parser()
    parser.parse_args([args.then, "FILE", *forwarded])  # a bad flag fails here, before any file is touched

    def run(path) -> dict[str, Any]:
        return COMMANDS[args.then](parser.parse_args([args.then, str(path), *forwarded]), settings)

    summary = process_landing(args.folder, args.then, run)
    if not args.json:
        print(summary.describe())
    if summary.failed:
        failures = "; ".join(f"{f['file']}: {f['error']}" for f in summary.files if f["status"] == "failed")
        raise ValueError(f"{summary.failed} of {len(summary.files)} file(s) failed (moved to _failed/): {failures}")
    return _asdict(summary)


@command("featurize")
def _featurize(args, settings: Settings) -> dict[str, Any]:
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.runtime.engine import session

    if args.workers is not None:
        settings = settings.replace(workers=args.workers)
    featurizers = parse_featurizers(args.featurizers or settings.featurize.featurizers)
    with session(settings) as (engine, catalog):
        summary = featurize(catalog, args.library, featurizers, engine.udf_workers)
    result = _asdict(summary) | {"accounted": summary.accounted, "workers": engine.udf_workers}
    if not args.json:
        print(summary.describe())
    return result


@command("split")
def _split(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.split.assign import Fractions
    from molpipe.split.job import split

    options = settings.split
    fractions = Fractions(options.train, options.valid, options.test)
    if args.fractions:
        try:
            fractions = Fractions(*[float(x) for x in args.fractions.split(",")])
        except TypeError:
            raise ValueError(f"--fractions takes three numbers train,valid,test; got {args.fractions!r}") from None
    with session(settings) as (_, catalog):
        summary = split(
            catalog,
            args.library,
            method=args.method or options.method,
            fractions=fractions,
            pool_fraction=options.pool_fraction if args.pool_fraction is None else args.pool_fraction,
            seed=options.seed if args.seed is None else args.seed,
        )
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("sql")
def _sql(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        catalog.register_existing()
        frame = catalog.spark.sql(args.query).limit(args.limit).toPandas()
    if not args.json:
        print(frame.to_string(index=False, max_colwidth=60) if len(frame) else "(no rows)")
    return {"columns": list(frame.columns), "rows": json.loads(frame.to_json(orient="records")), "limit": args.limit}


@command("tables")
def _tables(args, settings: Settings) -> dict[str, Any]:
    from molpipe.lake.tables import TABLES
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        rows = [
            {
                "table": name,
                "location": catalog.location(name),
                "version": catalog.version(name),
                "rows": catalog.read(name).count(),
                "description": TABLES[name].description,
            }  # fmt: skip
            for name in catalog.register_existing()
        ]
    if not args.json:
        for row in rows:
            print(f"{row['table']:<18} v{row['version']:<4} {row['rows']:>12,} rows  {row['location']}\n"
                  f"{'':<24}{row['description']}")  # fmt: skip
    return {"tables": rows}


@command("maintain")
def _maintain(args, settings: Settings) -> dict[str, Any]:
    from molpipe.lake.maintain import check_options, maintain
    from molpipe.runtime.engine import session

    check_options(settings.maintain)  # before an engine starts for nothing
    with session(settings) as (engine, catalog):
        summary = maintain(catalog, engine_kind=engine.kind, options=settings.maintain, library=args.library)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


def _train_inputs(args) -> tuple[Any, Any]:
    """(TrainRequest, TrainConfig) from the arguments shared by train and tune."""
    from molpipe.models import get_model
    from molpipe.train.job import TrainRequest
    from molpipe.train.loop import TrainConfig

    kind = get_model(args.model)  # its defaults type the --param values
    params = {key: _typed(value, getattr(kind, key, None), key) for key, value in map(_parse_param, args.param)}
    config = TrainConfig(model=args.model, model_params=params, epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.lr, patience=args.patience, seed=args.seed,
                         ensemble=args.ensemble)  # fmt: skip
    labels = tuple(x.strip() for x in args.labels.split(",")) if args.labels else None
    request = TrainRequest(args.library, args.model_name, labels, args.task, args.split_id, args.num_processes,
                           args.placement)  # fmt: skip
    return request, config


@command("train")
def _train(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.train.job import train

    request, config = _train_inputs(args)
    with session(settings) as (_, catalog):
        summary = train(catalog, request, config)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("tune")
def _tune(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.train.tune import tune

    request, config = _train_inputs(args)
    with session(settings) as (_, catalog):
        summary = tune(catalog, request, config, args.trials)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("pretrain")
def _pretrain(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.train.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(hidden=args.hidden, layers=args.layers, heads=args.heads, epochs=args.epochs,
                            batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)  # fmt: skip
    with session(settings) as (_, catalog):
        summary = pretrain(catalog, args.library, config, args.out)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


def _parse_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--param takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _typed(value: str, default: Any, key: str) -> Any:
    if default is None:
        raise ValueError(f"unknown model parameter {key!r}")
    if isinstance(default, bool):
        return value.lower() in {"1", "true", "yes"}
    return type(default)(value)


def _registry_session(settings: Settings):
    from molpipe.registry import tracking
    from molpipe.runtime.engine import is_databricks

    databricks = is_databricks()
    tracking.configure(settings, databricks)
    return databricks


@command("validate")
def _validate(args, settings: Settings) -> dict[str, Any]:
    from molpipe.registry import lifecycle, tracking
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        tracking.configure(settings, catalog.databricks)
        name = tracking.registered_name(settings, args.model, catalog.databricks)
        result = lifecycle.validate(catalog, name, settings.validation, args.version)
    if not args.json:
        print(result.describe())
    return _asdict(result)


@command("promote")
def _promote(args, settings: Settings) -> dict[str, Any]:
    from molpipe.registry import lifecycle, tracking

    name = tracking.registered_name(settings, args.model, _registry_session(settings))
    change = lifecycle.promote(name, args.force, args.version)
    if not args.json:
        print(change.describe())
    return _asdict(change)


@command("rollback")
def _rollback(args, settings: Settings) -> dict[str, Any]:
    from molpipe.registry import lifecycle, tracking

    change = lifecycle.rollback(tracking.registered_name(settings, args.model, _registry_session(settings)))
    if not args.json:
        print(change.describe())
    return _asdict(change)


@command("score")
def _score(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime import parallel
    from molpipe.runtime.engine import session, udf_workers
    from molpipe.score import WORKER_MODULES

    # the worker processes start first: their forkserver imports torch, RDKit and the model code on another core
    # while this process imports the job and MLflow (seconds each, most of a small pool's start-up)
    workers = args.workers or udf_workers(settings)
    parallel.warm(None, workers, WORKER_MODULES)
    from molpipe.score.job import score

    changes = {k: v for k, v in {"acquisition": args.acquisition, "uncertainty": args.uncertainty,
                                 "direction": args.direction}.items() if v}  # fmt: skip
    options = dataclasses.replace(settings.score, **changes)
    with session(settings, options.engine_partitions, options.engine_memory_mb) as (_, catalog):
        try:
            summary = score(catalog, args.library, args.model, options, workers, args.run_id, args.split_id,
                            args.label)  # fmt: skip
        except Exception as exc:  # the engine's memory pool refused an operator that cannot spill (a join, a writer)
            if "for the total memory pool" not in str(exc):
                raise
            raise ValueError(
                f"the scoring engine's memory pool ({options.engine_memory_mb} MB) is too small for this pool: raise "
                "MOLPIPE_SCORE__ENGINE_MEMORY_MB (0: unbounded) or lower MOLPIPE_SCORE__SLICE_ROWS "
                f"({str(exc).strip().splitlines()[0][:300]})"
            ) from None
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("select")
def _select(args, settings: Settings) -> dict[str, Any]:
    from molpipe.lab.select import select
    from molpipe.runtime.engine import session

    changes = {k: v for k, v in {"k": args.k, "diversity": args.diversity}.items() if v}
    with session(settings) as (_, catalog):
        summary = select(catalog, args.run, dataclasses.replace(settings.select, **changes), args.out, args.strategy)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("ingest-results")
def _ingest_results(args, settings: Settings) -> dict[str, Any]:
    from molpipe.featurize import parse_featurizers
    from molpipe.lab.results import ingest_results
    from molpipe.runtime.engine import session

    labels = [c.strip() for c in args.label_cols.split(",") if c.strip()]
    with session(settings) as (engine, catalog):
        summary = ingest_results(catalog, args.path, args.library, parse_featurizers(settings.featurize.featurizers),
                                 args.workers or engine.udf_workers, args.smiles_col, args.id_col, labels,
                                 args.split_id, args.batch_id)  # fmt: skip
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("monitor")
def _monitor(args, settings: Settings) -> dict[str, Any]:
    from molpipe.monitor.job import monitor
    from molpipe.runtime.engine import session

    with session(settings) as (_, catalog):
        summary = monitor(catalog, settings.monitor, args.library, args.run or None, args.out)
    if not args.json:
        print(summary.describe())
    return _asdict(summary)


@command("quality-monitor")
def _quality_monitor(args, settings: Settings) -> dict[str, Any]:
    from databricks.sdk import WorkspaceClient

    from molpipe.lake.tables import TABLES
    from molpipe.monitor.lakehouse import ensure_quality_monitor

    if not settings.catalog:
        raise ValueError("Lakehouse Monitoring watches Unity Catalog tables: set MOLPIPE_CATALOG (and MOLPIPE_SCHEMA)")
    if args.table not in TABLES:
        raise ValueError(f"unknown table {args.table!r}; molpipe's tables: {', '.join(TABLES)}")
    schema = f"{settings.catalog}.{settings.schema}"
    result = ensure_quality_monitor(WorkspaceClient(profile=args.profile), f"{schema}.{args.table}", schema,
                                    args.assets_dir, args.granularity, args.refresh)  # fmt: skip
    if not args.json:
        print(f"quality monitor on {result['table']} {'created' if result['created'] else 'exists'}"
              + (f", refresh {result['refresh_id']} started" if result["refresh_id"] is not None else ""))  # fmt: skip
    return result


@command("status")
def _status(args, settings: Settings) -> dict[str, Any]:
    from databricks.sdk import WorkspaceClient

    from molpipe.databricks.workspace_status import workspace_status

    key, sep, value = args.tag.partition("=")
    if not sep:
        raise ValueError(f"--tag takes KEY=VALUE, got {args.tag!r}")
    model = args.model
    if model and "." not in model:
        if not settings.catalog:
            raise ValueError(
                f"--model {model!r}: give catalog.schema.name, or set MOLPIPE_CATALOG (and MOLPIPE_SCHEMA)"
            )
        model = f"{settings.catalog}.{settings.schema}.{model}"
    endpoint = args.endpoint or (f"{model.rsplit('.', 1)[-1]}-champion" if model else None)
    status = workspace_status(WorkspaceClient(profile=args.profile), (key, value), model, endpoint)
    if not args.json:
        print(status.describe())
    return _asdict(status)


@command("demo")
def _demo(args, settings: Settings) -> dict[str, Any]:
    from molpipe.cli.demo import run_demo

    return run_demo(settings, args.featurizers, quiet=args.json)


@command("serve")
def _serve(args, settings: Settings) -> dict[str, Any]:
    from molpipe.serve.server import serve

    flags = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "threads": args.threads,
        "micro_batch": args.micro_batch,
        "poll_s": args.poll_s,
    }
    options = dataclasses.replace(settings.serve, **{k: v for k, v in flags.items() if v is not None})
    serve(settings.replace(serve=options), args.model)
    return {}


if __name__ == "__main__":
    entry()
