"""The ``molpipe`` command. Every job command accepts ``--json`` and then ends stdout with one JSON object."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Callable, Sequence

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
        if name == "promote":
            p.add_argument("--force", action="store_true", help="promote without a passed validation")

    p = job("demo", "ingest, featurize and split the bundled MoleculeNet HIV library, then query it")
    p.add_argument("--featurizers", help="default: the configured featurizers")

    # a long-running service, not a job: no --json summary
    help = "REST API for SMILES predictions from a registered model; follows the alias when it moves"
    p = sub.add_parser("serve", help=help, description=help)
    p.add_argument("--model", help="NAME@alias (watched), NAME/version or NAME (= NAME@champion); default serve.model")
    p.add_argument("--host", help="interface to listen on (default serve.host: 127.0.0.1)")
    p.add_argument("--port", type=int, help="default serve.port: 8000")
    p.add_argument("--workers", type=int, help="prediction processes: 1 (default) the server's; N a pool; 0 per core")
    p.add_argument("--threads", type=int, help="prediction threads in the server process (default 8)")
    p.add_argument("--poll-s", type=float, help="seconds between registry checks of the alias (0: never)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
        return 2
    if getattr(args, "json", False):
        print(json.dumps(summary, default=str))
    return 0


def run_job(command_name: str) -> None:
    """Entry point of a job task (``jobs/<command>.py``): the command's own arguments, its exit status."""
    sys.exit(main([command_name, *sys.argv[1:]]))


def _asdict(summary: Any) -> dict[str, Any]:
    return dataclasses.asdict(summary) if dataclasses.is_dataclass(summary) else dict(summary)


@command("ingest")
def _ingest(args, settings: Settings) -> dict[str, Any]:
    from molpipe.ingest.job import ingest
    from molpipe.spark import session

    labels = [c.strip() for c in args.label_cols.split(",") if c.strip()]
    with session(settings) as (_, catalog):
        summary = ingest(catalog, args.path, args.library, args.format, args.smiles_col, args.id_col, labels)
    if not args.json:
        if summary.already_loaded:
            print(
                f"{summary.source_file} is already in library '{summary.library}' (load {summary.load_id}): nothing added"
            )
        else:
            print(f"ingested {summary.rows_read:,} rows from {summary.source_file} into library '{summary.library}' "
                  f"(load {summary.load_id}, {summary.format}, structure column '{summary.structure_column}', "
                  f"{summary.rows_malformed:,} malformed rows kept for quarantine)")  # fmt: skip
    return _asdict(summary)


@command("featurize")
def _featurize(args, settings: Settings) -> dict[str, Any]:
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.spark import session

    if args.workers is not None:
        settings = settings.replace(workers=args.workers)
    featurizers = parse_featurizers(args.featurizers or settings.featurize.featurizers)
    with session(settings) as (engine, catalog):
        summary = featurize(catalog, args.library, featurizers, engine.udf_workers)
    result = _asdict(summary) | {"accounted": summary.accounted, "workers": engine.udf_workers}
    if not args.json:
        print(format_featurize(summary))
    return result


def format_featurize(summary) -> str:
    lines = [
        f"library '{summary.library}': {summary.rows_read:,} rows read from {len(summary.loads)} new load(s)",
        f"  molecules (new):     {summary.molecules_new:,}",
        f"  duplicates merged:   {summary.duplicates:,}",
        f"  quarantined:         {summary.quarantined:,}"
        + "".join(f"\n    {reason:<24}{n:,}" for reason, n in summary.quarantine_reasons.items()),
        f"  accounted for:       {summary.molecules_new + summary.duplicates + summary.quarantined:,} of "
        f"{summary.rows_read:,} rows {'(all)' if summary.accounted else '(MISMATCH)'}",
        "  features computed:   " + (", ".join(f"{k} {v:,}" for k, v in summary.features_computed.items()) or "none"),
        f"  molecules in library: {summary.molecules_total:,}",
    ]
    return "\n".join(lines)


@command("split")
def _split(args, settings: Settings) -> dict[str, Any]:
    from molpipe.spark import session
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
        print(format_split(summary))
    return _asdict(summary)


def format_split(summary) -> str:
    counts = ", ".join(f"{k} {v:,}" for k, v in summary.counts.items())
    reasons = ", ".join(f"{k} {v:,}" for k, v in summary.pool_reasons.items()) or "none"
    return f"split '{summary.split_id}' of '{summary.library}': {counts} (pool: {reasons})"


@command("sql")
def _sql(args, settings: Settings) -> dict[str, Any]:
    from molpipe.spark import session

    with session(settings) as (_, catalog):
        catalog.register_existing()
        frame = catalog.spark.sql(args.query).limit(args.limit).toPandas()
    if not args.json:
        print(frame.to_string(index=False, max_colwidth=60) if len(frame) else "(no rows)")
    return {"columns": list(frame.columns), "rows": json.loads(frame.to_json(orient="records")), "limit": args.limit}


@command("tables")
def _tables(args, settings: Settings) -> dict[str, Any]:
    from molpipe.spark import session
    from molpipe.tables import TABLES

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


def _train_inputs(args) -> tuple[Any, Any]:
    """(TrainRequest, TrainConfig) from the arguments shared by train and tune."""
    from molpipe.models import get_model
    from molpipe.train.job import TrainRequest
    from molpipe.train.loop import TrainConfig

    kind = get_model(args.model)  # its defaults type the --param values
    params = {key: _typed(value, getattr(kind, key, None), key) for key, value in map(_parse_param, args.param)}
    config = TrainConfig(model=args.model, model_params=params, epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.lr, patience=args.patience, seed=args.seed)  # fmt: skip
    labels = tuple(x.strip() for x in args.labels.split(",")) if args.labels else None
    return TrainRequest(args.library, args.model_name, labels, args.task, args.split_id, args.num_processes), config


def _format_trained(summary) -> str:
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in summary.test_metrics.items())
    return (f"trained {summary.model} ({summary.task['kind']}, {', '.join(summary.task['labels'])}) in "
            f"{summary.seconds:.0f} s with {summary.num_processes} process(es): test {metrics}\n"
            f"registered {summary.model_name} v{summary.version} as '{summary.alias}' (run {summary.run_id})")  # fmt: skip


@command("train")
def _train(args, settings: Settings) -> dict[str, Any]:
    from molpipe.spark import session
    from molpipe.train.job import train

    request, config = _train_inputs(args)
    with session(settings) as (_, catalog):
        summary = train(catalog, request, config)
    if not args.json:
        print(_format_trained(summary))
    return _asdict(summary)


@command("tune")
def _tune(args, settings: Settings) -> dict[str, Any]:
    from molpipe.spark import session
    from molpipe.train.tune import tune

    request, config = _train_inputs(args)
    with session(settings) as (_, catalog):
        summary = tune(catalog, request, config, args.trials)
    if not args.json:
        print(f"{summary.trials} trials (parent run {summary.parent_run_id}): best {summary.metric} "
              f"{summary.best_value:.4f} with {summary.best_params}\n" + _format_trained(summary.registered))  # fmt: skip
    return _asdict(summary)


@command("pretrain")
def _pretrain(args, settings: Settings) -> dict[str, Any]:
    from molpipe.spark import session
    from molpipe.train.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(hidden=args.hidden, layers=args.layers, heads=args.heads, epochs=args.epochs,
                            batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)  # fmt: skip
    with session(settings) as (_, catalog):
        summary = pretrain(catalog, args.library, config, args.out)
    if not args.json:
        print(f"pretrained a {summary.parameters:,}-parameter RoBERTa on {summary.molecules:,} SMILES of "
              f"'{summary.library}' (vocabulary {summary.vocabulary}, valid MLM loss {summary.valid_mlm_loss:.3f}) "
              f"in {summary.seconds:.0f} s -> {summary.out}\n"
              f"train on it: molpipe train --library {summary.library} --model chemberta --param pretrained={summary.out}")  # fmt: skip
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
    from molpipe import tracking
    from molpipe.spark import is_databricks

    databricks = is_databricks()
    tracking.configure(settings, databricks)
    return databricks


@command("validate")
def _validate(args, settings: Settings) -> dict[str, Any]:
    from molpipe import lifecycle, tracking
    from molpipe.spark import session

    with session(settings) as (_, catalog):
        tracking.configure(settings, catalog.databricks)
        name = tracking.registered_name(settings, args.model, catalog.databricks)
        result = lifecycle.validate(catalog, name, settings.validation)
    if not args.json:
        verdict = "PASSED" if result.passed else "FAILED: " + "; ".join(result.reasons)
        champion = (
            f" vs champion v{result.champion} {result.champion_metrics.get(result.metric, float('nan')):.4f}"
            if result.champion
            else ""
        )
        print(f"{result.model_name} challenger v{result.challenger}: {result.metric} "
              f"{result.challenger_metrics.get(result.metric, float('nan')):.4f}{champion} on {result.test_molecules} "
              f"test molecules: {verdict}")  # fmt: skip
    return _asdict(result)


@command("promote")
def _promote(args, settings: Settings) -> dict[str, Any]:
    from molpipe import lifecycle, tracking

    change = lifecycle.promote(tracking.registered_name(settings, args.model, _registry_session(settings)), args.force)
    if not args.json:
        print(f"{change.model_name}: champion is now v{change.champion} (was {change.previous_champion or 'none'})")
    return _asdict(change)


@command("rollback")
def _rollback(args, settings: Settings) -> dict[str, Any]:
    from molpipe import lifecycle, tracking

    change = lifecycle.rollback(tracking.registered_name(settings, args.model, _registry_session(settings)))
    if not args.json:
        print(f"{change.model_name}: champion rolled back to v{change.champion} (was v{change.previous_champion})")
    return _asdict(change)


@command("demo")
def _demo(args, settings: Settings) -> dict[str, Any]:
    from molpipe.demo import run_demo

    return run_demo(settings, args.featurizers, quiet=args.json)


@command("serve")
def _serve(args, settings: Settings) -> dict[str, Any]:
    from molpipe.serve.server import serve

    flags = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "threads": args.threads,
        "poll_s": args.poll_s,
    }
    options = dataclasses.replace(settings.serve, **{k: v for k, v in flags.items() if v is not None})
    serve(settings.replace(serve=options), args.model)
    return {}


if __name__ == "__main__":
    sys.exit(main())
