"""``molpipe train``: featurized Delta tables -> a tracked MLflow run and a registered model version (alias
``challenger``).

The run records: parameters, per-epoch metrics, the Delta versions it read (as MLflow dataset inputs and tags),
learning curves and ROC/PR or parity plots (PNG), the resolved config and the split, and the model as a pyfunc
whose input is SMILES (:mod:`molpipe.models.predictor`). Training runs in ``num_processes`` DDP processes through
``TorchDistributor`` (in-line for one process): on the driver (``placement="driver"``, ``local_mode=True``) or one
process per barrier task on the executors (``placement="executors"``, ``local_mode=False``; each rank reads its shard
from the run's folder under ``$MOLPIPE_HOME/staging``, which every executor must see: a Unity Catalog Volume on
Databricks).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from molpipe import __version__
from molpipe.config import ScoreOptions
from molpipe.featurize.domain import DOMAIN_FILE
from molpipe.lake.tables import Catalog
from molpipe.models import get_model
from molpipe.models.calibration import check_coverage
from molpipe.registry import tracking
from molpipe.registry.card import LINEAGE_TAG, ModelCard, lineage_tag
from molpipe.registry.tracking import CHALLENGER
from molpipe.runtime import locks, progress, staging
from molpipe.runtime.faults import checkpoint
from molpipe.split.read import split_id_of
from molpipe.train import plots
from molpipe.train.data import held_out_similarity, materialize, resolve_task, training_domain
from molpipe.train.loop import TrainConfig, train_rank


@dataclass(frozen=True)
class TrainRequest:
    """What to train on and where it goes; the model and its hyperparameters are a :class:`TrainConfig`."""

    library: str
    model_name: str | None = None  # registered name; default <library>_<model>
    labels: tuple[str, ...] | None = None  # default: every label of the library
    task_kind: str | None = None  # default: inferred from the labels
    split_id: str | None = None  # default: the library's latest split
    num_processes: int = 2
    placement: str = "driver"  # where the DDP ranks run: "driver" or "executors" (see PLACEMENTS)

    def __post_init__(self) -> None:
        if self.num_processes < 1:
            raise ValueError(f"--num-processes must be at least 1, got {self.num_processes}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"--placement {self.placement!r} is not one of {', '.join(PLACEMENTS)}")


PLACEMENTS = ("driver", "executors")


@dataclass
class TrainSummary:
    run_id: str
    experiment_id: str
    model_name: str
    version: str
    alias: str
    model: str
    task: dict[str, Any]
    split_id: str
    counts: dict[str, int]
    test_metrics: dict[str, float]
    best_epoch: int
    num_processes: int
    placement: str
    ranks: list[dict[str, Any]]  # per DDP rank of member 0: rank, host, pid (where it ran)
    weights_identical_across_ranks: bool
    table_versions: dict[str, int]
    seconds: float

    def describe(self) -> str:
        """What ``molpipe train`` prints: the test metrics and the registered version (also under ``molpipe tune``)."""
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in self.test_metrics.items())
        return (
            f"trained {self.model} ({self.task['kind']}, {', '.join(self.task['labels'])}) in {self.seconds:.0f} s "
            f"with {self.num_processes} process(es): test {metrics}\n"
            f"registered {self.model_name} v{self.version} as '{self.alias}' (run {self.run_id})"
        )


def train(catalog: Catalog, request: TrainRequest, config: TrainConfig) -> TrainSummary:
    """Train ``config``'s model on the request's library and split, log the run to MLflow and register a new
    version as ``challenger``, with its model card."""
    import time

    import mlflow

    started = time.monotonic()
    settings, databricks = catalog.settings, catalog.databricks
    library, num_processes = request.library, request.num_processes
    check_coverage(settings.score.coverage)
    task = resolve_task(catalog, library, request.labels, request.task_kind)
    config = config.for_task(task.kind)
    kind = get_model(config.model, **config.model_params)  # fail fast on a bad model name or parameter
    split_id = split_id_of(catalog, library, request.split_id)
    name = request.model_name or f"{library}_{config.model}".replace("-", "_")
    registered = tracking.registered_name(settings, name, databricks)
    tracking.configure(settings, databricks)
    experiment = tracking.experiment_id(settings, library, task.name, databricks)
    with staging.folder(settings, "train") as work:
        with mlflow.start_run(
            experiment_id=experiment, run_name=run_name(config, split_id), tags=tracking.run_tags("training")
        ) as run:
            data = materialize(catalog, library, task, kind.featurizers(), split_id, work / "data", num_processes)
            _log_inputs(catalog, data, library, config, task, split_id, num_processes)
            out = work / "out"
            data_dict = {**asdict(data), "task": {"labels": list(task.labels), "kind": task.kind}}
            coverage = settings.score.coverage
            outcome, identical, ranks = _train_members(config, request, data_dict, out, task, coverage)
            for row in outcome["history"]:
                mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
            mlflow.log_metrics({f"test_{k}": v for k, v in outcome["test"].items()})
            mlflow.log_metric("best_epoch", outcome["best_epoch"])
            calibrated = outcome["calibration"]
            mlflow.log_params({"coverage": coverage, "calibration_folds": calibrated["folds"]})
            if calibrated["scale"]:  # regression: what the intervals' width follows (distance, spread or none)
                mlflow.log_param("interval_scale", calibrated["scale"])
            mlflow.log_metric("calibration_molecules", calibrated["molecules"])
            plots.log_training_plots(out, outcome["history"], task, coverage)
            model_dir = _model_folder(out, work / "model", config, task, settings)
            info = _log_pyfunc(model_dir, registered)
            client = mlflow.MlflowClient()
            version = str(info.registered_model_version)
            checkpoint("train.registered")
            card = ModelCard(
                run_id=run.info.run_id,
                model=config.model,
                library=library,
                split_id=split_id,
                task=task,
                lineage=data.versions,
                test_metrics=outcome["test"],
            )
            for key, value in card.tags().items():
                client.set_model_version_tag(registered, version, key, value)
            # last: the alias is what validate, promote and score follow, so it never points at a version without
            # its card (a job killed before this leaves a version no alias names)
            with locks.exclusive(settings, f"model-{registered}", job="train"):  # not while a promote moves it
                client.set_registered_model_alias(registered, CHALLENGER, version)
    return TrainSummary(
        run_id=run.info.run_id,
        experiment_id=experiment,
        model_name=registered,
        version=version,
        alias=CHALLENGER,
        model=config.model,
        task=asdict(task),
        split_id=split_id,
        counts=data.counts,
        test_metrics=outcome["test"],
        best_epoch=outcome["best_epoch"],
        num_processes=num_processes,
        placement=request.placement,
        ranks=ranks,
        weights_identical_across_ranks=identical,
        table_versions=data.versions,
        seconds=round(time.monotonic() - started, 1),
    )


def run_name(config: TrainConfig, split_id: str) -> str:
    """What the MLflow UI lists a training run as: the model and the split, ``gnn-scaffold-seed0`` (a split id
    without its pool fraction), ``-x5`` for an ensemble of five."""
    name = f"{config.model}-{split_id.split('-pool')[0]}"
    return f"{name}-x{config.ensemble}" if config.ensemble > 1 else name


def _train_members(config: TrainConfig, request: TrainRequest, data: dict, out: Path, task, coverage: float):
    """Train ``config.ensemble`` members (seeds seed, seed+1, ...) one after the other, each in ``num_processes``
    DDP ranks, into ``out/member-<k>``, and calibrate the ensemble on the validation split (or on scaffold folds,
    :meth:`TrainConfig.folds_for`). Returns the outcome (the ensemble's test metrics with its uncertainty's, member
    0's history, what calibrated it), whether every member ended with identical
    weights on all its ranks, and where member 0's ranks ran; writes ``calibration.json`` and the ensemble's
    calibrated test predictions (with their spread) to ``out``."""
    import numpy as np

    from molpipe.models.calibration import Calibration, quality
    from molpipe.models.tasks import metrics

    outcomes, identical, predictions = [], True, {"valid": [], "test": []}
    for member in range(config.ensemble):
        folder = out / f"member-{member}"
        member_config = asdict(replace(config, seed=config.seed + member))
        _distribute(train_rank, request.num_processes, request.placement, member_config, data, str(folder))
        outcomes.append(json.loads((folder / "outcome.json").read_text()))
        ranks = [json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))]
        identical &= len({rank["weights_sha256"] for rank in ranks}) == 1
        if member == 0:
            where = [{k: rank[k] for k in ("rank", "host", "pid")} for rank in ranks]
        for split in predictions:
            predictions[split].append(np.load(folder / f"{split}_predictions.npz"))
    states = {(out / f"member-{m}" / "state.json").read_text() for m in range(config.ensemble)}
    if len(states) != 1:
        raise RuntimeError("ensemble members learned different preprocessing state; they cannot share one folder")

    def ensemble(split: str):
        draws = np.stack([p["predictions"] for p in predictions[split]])
        spread = draws.std(axis=0) if config.ensemble > 1 else None  # what the Predictor gives as uncertainty
        return draws.mean(axis=0), predictions[split][0]["targets"], spread

    valid, (mean, targets, spread) = ensemble("valid"), ensemble("test")
    # a single regression model's intervals scale with each molecule's distance from the molecules it trained on
    domain = training_domain(data["root"]) if task.kind == "regression" and config.ensemble == 1 else None

    def similarity_of(split: str) -> np.ndarray | None:
        if domain is None:
            return None
        return held_out_similarity(data["root"], split, predictions[split][0]["inchikeys"], domain)

    similarity = {"test": similarity_of("test")}
    folds = config.folds_for(kind=task.kind, valid=data["counts"]["valid"])
    held_out = _cross_fit(config, data, out, folds=folds, domains=domain is not None) if folds else None
    if held_out is None:
        folds = 0  # nothing to fold (no scaffold set small enough to hold out): the validation split calibrates
        similarity["valid"] = similarity_of("valid")
    else:
        valid, similarity["valid"] = (*held_out[:2], None), held_out[2]
    calibration = Calibration.fit(
        predictions=valid[0],
        targets=valid[1],
        spread=valid[2],
        task=task,
        folds=folds,
        similarity=similarity["valid"],
    )
    calibration.write(out)
    if calibration.difficulty:
        (out / DOMAIN_FILE).write_bytes(domain.to_bytes())
    calibrated = calibration.probabilities(mean)
    np.savez(
        out / "test_predictions.npz",
        predictions=calibrated,
        uncalibrated=mean,
        spread=np.full_like(mean, np.nan) if spread is None else spread,
        targets=targets,
        similarity=np.full(len(mean), np.nan) if similarity["test"] is None else similarity["test"],
    )
    test = metrics(mean, targets, task.kind) if len(mean) else {}
    if len(mean):
        test |= quality(
            predictions=calibrated,
            targets=targets,
            spread=spread,
            calibration=calibration,
            coverage=coverage,
            uncalibrated=mean,
            similarity=similarity["test"],
        )
    scale = "distance" if calibration.difficulty else "spread" if calibration.normalized else "none"
    outcome = {
        **outcomes[0],
        "test": test,
        "calibration": {
            "folds": folds,
            "molecules": len(valid[1]),
            "scale": scale if task.kind == "regression" else "",
        },
    }
    if config.ensemble > 1:
        outcome["member_test"] = [o["test"] for o in outcomes]
    return outcome, identical, where


def _cross_fit(config: TrainConfig, data: dict, out: Path, *, folds: int, domains: bool):
    """Out-of-fold predictions, targets and (with ``domains``) each molecule's highest similarity to its fold
    model's training molecules, for the held-out scaffold sets of train (:mod:`molpipe.train.folds`): one model per
    fold, trained in-line on the rest of train and stopped early on the validation split exactly as the final model
    was, so each fold's errors are those of a model made the same way on molecules it never saw. None where no fold
    could be made."""
    import numpy as np

    from molpipe.train.folds import write_folds

    fold_config = asdict(replace(config, ensemble=1, calibration_folds=0))
    predictions, targets, similarity = [], [], []
    roots = write_folds(Path(data["root"]), k=folds, seed=config.seed, out=out / "folds")
    if not roots:
        return None
    with progress.track("calibration folds", total=len(roots), unit="models", every=30.0):
        for root in roots:
            train_rank(fold_config, {**data, "root": str(root)}, str(root / "model"))
            found = np.load(root / "model" / "test_predictions.npz")
            predictions.append(found["predictions"])
            targets.append(found["targets"])
            if domains:
                similarity.append(held_out_similarity(root, "test", found["inchikeys"], training_domain(root)))
            progress.advance(1)
    return np.concatenate(predictions), np.concatenate(targets), np.concatenate(similarity) if domains else None


def _distribute(fn, num_processes: int, placement: str, *args) -> None:
    """Run ``fn`` in ``num_processes`` DDP ranks through TorchDistributor: on the driver (local mode) or in barrier
    tasks on the executors, which needs that many free task slots; in-line for one process on the driver."""
    if num_processes <= 1 and placement == "driver":
        fn(*args)
        return
    import torch
    from pyspark.ml.torch.distributor import TorchDistributor

    local = placement == "driver"
    gpu = torch.cuda.is_available() if local else False  # an executor's GPUs are the cluster's to declare
    TorchDistributor(num_processes=num_processes, local_mode=local, use_gpu=gpu).run(fn, *args)


def _log_inputs(catalog: Catalog, data, library, config: TrainConfig, task, split_id: str, num_processes: int) -> None:
    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    mlflow.log_params(
        {
            "model": config.model,
            "library": library,
            "labels": ",".join(task.labels),
            "task": task.kind,
            "split_id": split_id,
            "num_processes": num_processes,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "weight_decay": config.weight_decay,
            "patience": config.patience,
            "seed": config.seed,
            "ensemble": config.ensemble,
            **{f"model.{k}": v for k, v in config.model_params.items()},
            **{f"count.{k}": v for k, v in data.counts.items()},
        }
    )
    for table, version in data.versions.items():
        mlflow.set_tag(LINEAGE_TAG.format(table=table), lineage_tag(catalog.location(table), version))
        if catalog.databricks:
            source = DeltaDatasetSource(
                delta_table_name=catalog.location(table).replace("`", ""), delta_table_version=version
            )
        else:
            source = DeltaDatasetSource(path=catalog.location(table), delta_table_version=version)
        mlflow.log_input(MetaDataset(source, name=table), context="training")
    mlflow.log_dict(
        {
            "train": asdict(config),
            "task": asdict(task),
            "split_id": split_id,
            "table_versions": data.versions,
            "settings": asdict(catalog.settings),
        },
        "config.json",
    )
    _log_split(catalog, library, split_id, data.versions["splits"])


def _log_split(catalog: Catalog, library: str, split_id: str, version: int) -> None:
    """The split itself (InChIKey -> split) as a Parquet artifact, so the run can be reproduced exactly."""
    import mlflow
    from pyspark.sql import functions as F

    rows = catalog.read_version("splits", version).where(
        (F.col("library") == library) & (F.col("split_id") == split_id)
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows.select("inchikey", "split", "pool_reason", "scaffold").write.parquet(f"{tmp}/split")
        mlflow.log_artifacts(f"{tmp}/split", "split")


def _model_folder(out: Path, folder: Path, config: TrainConfig, task, settings) -> Path:
    folder.mkdir(parents=True)
    weights = [f"model-{member}.pt" if config.ensemble > 1 else "model.pt" for member in range(config.ensemble)]
    for member, name in enumerate(weights):
        shutil.copy(out / f"member-{member}" / "model.pt", folder / name)
    shutil.copy(out / "member-0" / "state.json", folder / "state.json")
    shutil.copy(out / "calibration.json", folder / "calibration.json")
    if (out / DOMAIN_FILE).is_file():
        shutil.copy(out / DOMAIN_FILE, folder / DOMAIN_FILE)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model": config.model,
                "model_params": config.model_params,
                "task": asdict(task),
                "weights": weights,
                "standardize": asdict(settings.standardize),
                "molpipe_version": __version__,
            }
        )
    )
    return folder


def _log_pyfunc(model_dir: Path, registered: str):
    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from molpipe.models.predictor import Predictor
    from molpipe.registry.pyfunc import MolpipePyfunc

    outputs = Predictor(model_dir).output_columns()
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "smiles")]),
        outputs=Schema(
            [
                ColSpec("string", "smiles"),
                ColSpec("string", "standardized_smiles", required=False),
                ColSpec("string", "inchikey", required=False),
                ColSpec("boolean", "valid"),
                ColSpec("string", "error", required=False),
            ]
            + [ColSpec("double", name, required=False) for name in outputs]
        ),
        params=ParamSchema(
            [
                ParamSpec("uncertainty", "string", "auto"),
                ParamSpec("samples", "long", 10),
                ParamSpec("coverage", "double", ScoreOptions.coverage),
            ]
        ),
    )
    requirements = [
        f"{name}=={metadata.version(name)}" for name in ("torch", "torch_geometric", "rdkit", "pandas", "numpy")
    ]
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=MolpipePyfunc(),
        artifacts={"model_dir": str(model_dir)},
        signature=signature,
        input_example=pd.DataFrame({"smiles": ["CC(=O)Oc1ccccc1C(=O)O", "CCO"]}),
        pip_requirements=[f"molpipe=={__version__}", *requirements],
        registered_model_name=registered,
    )
