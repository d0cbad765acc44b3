"""``molpipe train``, ``molpipe tune`` and ``molpipe pretrain``: models from a featurized, split library."""

from __future__ import annotations

import argparse
from typing import Any

from molpipe.cli.common import job, report
from molpipe.config import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = job(sub, "train", "train a model on a featurized, split library; log it to MLflow and register a new version")
    _training_arguments(p)
    p.set_defaults(handler=_train)

    p = job(sub, "tune", "Optuna search (nested MLflow runs); the best configuration is trained and registered")
    _training_arguments(p)
    p.add_argument("--trials", type=int, default=20)
    p.set_defaults(handler=_tune)

    p = job(
        sub, "pretrain", "masked-language-model pretraining of a SMILES RoBERTa on the library (for --model chemberta)"
    )
    p.add_argument("--library", required=True)
    p.add_argument("--out", help="output folder (default $MOLPIPE_HOME/pretrained/<library>)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_pretrain)


def _training_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments train and tune share: what to train on, the architecture, the loop."""
    p.add_argument("--library", required=True)
    p.add_argument(
        "--model",
        help="architecture: fp-mlp, gnn, chemberta (default: fp-mlp, the best of molpipe's models against Chemprop "
        "on both task kinds; docs/performance.md)",
    )
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
    p.add_argument(
        "--placement",
        choices=["driver", "executors"],
        default="driver",
        help="where the DDP processes run: on the driver (default) or one per executor task slot "
        "(a cluster; each rank reads its shard from $MOLPIPE_HOME)",
    )
    p.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="members trained with successive seeds; their spread is the uncertainty (default 1)",
    )
    p.add_argument(
        "--calibration-folds",
        type=int,
        help="regression: calibrate the intervals on the out-of-fold errors of this many scaffold folds of train and "
        "valid (0: on the validation split alone; default 5 for a single model whose validation split has fewer than "
        "2,000 molecules, else 0)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model hyperparameter, repeatable (e.g. --param hidden=300 --param layers=5)",
    )


def _train(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.train.job import train

    request, config = _train_inputs(args)
    with session(settings) as (_, catalog):
        summary = train(catalog, request, config)
    return report(args, summary)


def _tune(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.train.tune import tune

    request, config = _train_inputs(args)
    with session(settings) as (_, catalog):
        summary = tune(catalog, request, config, trials=args.trials)
    return report(args, summary)


def _pretrain(args, settings: Settings) -> dict[str, Any]:
    from molpipe.runtime.engine import session
    from molpipe.train.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(
        hidden=args.hidden,
        layers=args.layers,
        heads=args.heads,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
    )
    with session(settings) as (_, catalog):
        summary = pretrain(catalog, library=args.library, config=config, out=args.out)
    return report(args, summary)


def _train_inputs(args) -> tuple[Any, Any]:
    """(TrainRequest, TrainConfig) from the arguments shared by train and tune."""
    from molpipe.models import get_model
    from molpipe.train.job import TrainRequest
    from molpipe.train.loop import TrainConfig

    if args.model is None and args.param:
        raise ValueError("--param needs --model: without it the model is the task's default, and so are its parameters")
    kind = get_model(args.model) if args.model else None  # its defaults type the --param values
    params = {key: _typed(value, getattr(kind, key, None), key) for key, value in map(_parse_param, args.param)}
    config = TrainConfig(
        model=args.model,
        model_params=params,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        seed=args.seed,
        ensemble=args.ensemble,
        calibration_folds=args.calibration_folds,
    )
    labels = tuple(x.strip() for x in args.labels.split(",")) if args.labels else None
    request = TrainRequest(
        args.library, args.model_name, labels, args.task, args.split_id, args.num_processes, args.placement
    )
    return request, config


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
    try:
        return type(default)(value)
    except ValueError:
        raise ValueError(f"--param {key}={value!r} is not a valid {type(default).__name__}") from None
