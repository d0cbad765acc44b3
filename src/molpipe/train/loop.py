"""The training loop one process (rank) runs: DDP over gloo (CPU) or nccl (GPU), seeded, with early stopping.

:func:`train_rank` is what ``TorchDistributor`` starts in every process (``torchrun`` sets RANK/WORLD_SIZE); with
one process it runs in-line. Each rank streams its own Parquet shard; every rank takes the same number of steps
per epoch (the smallest shard decides, so gloo never waits on a rank that has run out of data); validation is
sharded too and its predictions gathered. Rank 0 writes the best checkpoint, the history and the validation and
test predictions under ``out_dir``; the driver reads them from there (TorchDistributor's return value is not
rank 0's in local mode).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from molpipe.models.tasks import Task, label_units, masked_loss, metrics
from molpipe.train.data import Materialized, Shard

CROSS_FIT_FOLDS = 5
CROSS_FIT_BELOW = 2_000  # validation molecules: above this, the validation split alone calibrates


@dataclass
class TrainConfig:
    model: str | None = None  # None: the task kind's default (models.DEFAULT_MODELS), see :meth:`for_task`
    model_params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 8
    seed: int = 0
    fit_sample: int = 50_000  # molecules used to learn preprocessing (descriptor scaling)
    ensemble: int = 1  # members trained with seeds seed, seed+1, ...; their spread is the model's uncertainty
    # regression intervals from this many scaffold folds of train + valid (0: the validation split alone); None:
    # CROSS_FIT_FOLDS for a single model whose validation split has fewer than CROSS_FIT_BELOW molecules
    calibration_folds: int | None = None

    def __post_init__(self) -> None:
        """Fail before any work on a loop that cannot run (or would register an untrained model)."""
        for flag, value in (
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size),
            ("--ensemble", self.ensemble),
        ):
            if value < 1:
                raise ValueError(f"{flag} must be at least 1, got {value}")
        if self.patience < 0:
            raise ValueError(f"--patience must be 0 or more, got {self.patience}")
        if not self.learning_rate > 0:
            raise ValueError(f"--lr must be positive, got {self.learning_rate}")
        if self.calibration_folds is not None and (self.calibration_folds < 0 or self.calibration_folds == 1):
            raise ValueError(f"--calibration-folds must be 0 or at least 2, got {self.calibration_folds}")
        if self.calibration_folds and self.ensemble > 1:
            raise ValueError(
                "--calibration-folds needs --ensemble 1: an ensemble's intervals scale with its members' spread, "
                "which only the validation split has"
            )

    def folds_for(self, *, kind: str, valid: int) -> int:
        """How many scaffold folds calibrate the intervals (0: the validation split does): cross-fitting costs
        about ``folds`` more trainings, and pays where the validation split is too small for a stable quantile
        (docs/training-and-registry.md has the figures)."""
        if kind != "regression" or valid == 0:
            return 0  # nothing to widen, or no validation split to stop the fold models on
        if self.calibration_folds is not None:
            return self.calibration_folds
        return CROSS_FIT_FOLDS if self.ensemble == 1 and valid < CROSS_FIT_BELOW else 0

    def for_task(self, kind: str) -> TrainConfig:
        """This configuration with its model named: as given, or the default for a ``kind`` task."""
        from molpipe.models import DEFAULT_MODELS

        return self if self.model is not None else replace(self, model=DEFAULT_MODELS[kind])


def train_rank(config: dict, data: dict, out_dir: str) -> dict:
    """Train on this rank's shard; returns (and rank 0 writes to ``out_dir``) the outcome."""
    import torch
    import torch.distributed as dist

    from molpipe.models import get_model

    cfg = TrainConfig(**config)
    materialized = Materialized(**{**data, "task": Task(tuple(data["task"]["labels"]), data["task"]["kind"])})
    task = materialized.task
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    gpu = torch.cuda.is_available()
    if world > 1:
        dist.init_process_group("nccl" if gpu else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if gpu else "cpu")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    _seed(cfg.seed)

    kind = get_model(cfg.model, **cfg.model_params)
    featurizers = kind.featurizers()
    train_files = materialized.files("train")
    shard = Shard(train_files[rank::world], featurizers)
    fit_rows = Shard(train_files, featurizers)  # every rank learns the same preprocessing from the same rows
    state = kind.fit(fit_rows.sample(cfg.fit_sample))
    state["targets"] = _target_scaling(fit_rows, task, cfg.fit_sample)
    module = kind.build(len(task.labels), state)
    kind.initialize(module, state)
    module = module.to(device)
    model = torch.nn.parallel.DistributedDataParallel(module) if world > 1 else module
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)

    steps = _agree_min(max(1, math.ceil(len(shard) / cfg.batch_size)), world)
    history: list[dict[str, float]] = []
    best, best_epoch, best_state = None, -1, None
    started = time.monotonic()
    for epoch in range(cfg.epochs):
        model.train()
        losses = []
        batches = shard.batches(cfg.batch_size, seed=cfg.seed * 100_003 + epoch * 101 + rank)
        for _, (_, molecules, targets) in zip(range(steps), batches):
            optimizer.zero_grad()
            logits = model(kind.collate(molecules, state).to(device))
            loss = masked_loss(logits, _scale(torch.from_numpy(targets), state, task).to(device), task.kind)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        valid = _evaluate(module, kind, state, task, materialized.files("valid"), featurizers, rank, world, device)
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)) if losses else math.nan,
            **{f"valid_{k}": v for k, v in valid.items()},
            "seconds": time.monotonic() - started,
        }
        history.append(row)
        score = valid.get(task.primary_metric)
        if score is not None and (best is None or (score > best if task.higher_is_better else score < best)):
            best, best_epoch = score, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        if best is not None and epoch - best_epoch >= cfg.patience:  # no validation split: every epoch, last weights
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    # the best weights' predictions of both held-out splits: validation calibrates the uncertainty, test measures it
    valid = _evaluate(
        module, kind, state, task, materialized.files("valid"), featurizers, rank, world, device, keep=True
    )
    test = _evaluate(module, kind, state, task, materialized.files("test"), featurizers, rank, world, device, keep=True)
    checksum = hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in module.parameters())).hexdigest()
    outcome = {
        "rank": rank,
        "world_size": world,
        "weights_sha256": checksum,
        "best_epoch": best_epoch,
        "history": history,
        "test": test["metrics"],
        "device": str(device),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    (out / f"rank{rank}.json").write_text(json.dumps({**{k: outcome[k] for k in ("rank", "weights_sha256")}, **where}))
    if rank == 0:
        torch.save(module.state_dict(), out / "model.pt")
        (out / "state.json").write_text(json.dumps(state))
        (out / "outcome.json").write_text(json.dumps(outcome))
        for name, split in (("valid", valid), ("test", test)):
            np.savez(
                out / f"{name}_predictions.npz",
                predictions=split["predictions"],
                targets=split["targets"],
                inchikeys=split["inchikeys"],
            )
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return outcome


def _evaluate(module, kind, state, task: Task, files, featurizers, rank, world, device, keep=False) -> dict:
    """Predictions of this rank's part of a split, gathered on every rank; metrics of the whole split (and with
    ``keep`` the predictions, targets and InChIKeys, in one order)."""
    import torch
    import torch.distributed as dist

    predictions, targets, keys = [], [], []
    module.eval()
    with torch.no_grad():
        for inchikeys, molecules, y in Shard(files[rank::world], featurizers).batches(256):
            logits = module(kind.collate(molecules, state).to(device)).cpu()
            predictions.append(label_units(logits, state, task).numpy())
            targets.append(y)
            keys.extend(inchikeys)
    n_tasks = len(task.labels)
    local = (
        np.concatenate(predictions) if predictions else np.zeros((0, n_tasks), np.float32),
        np.concatenate(targets) if targets else np.zeros((0, n_tasks), np.float32),
        np.array(keys, dtype=str),
    )
    if world > 1:
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, local)
        local = tuple(np.concatenate([g[i] for g in gathered]) for i in range(3))
    result = metrics(local[0], local[1], task.kind) if len(local[0]) else {}
    return {"metrics": result, "predictions": local[0], "targets": local[1], "inchikeys": local[2]} if keep else result


def _scale(targets, state, task: Task):
    import torch

    if task.kind == "classification":
        return targets
    return (targets - torch.tensor(state["targets"]["mean"])) / torch.tensor(state["targets"]["std"])


def _target_scaling(shard: Shard, task: Task, limit: int) -> dict[str, list[float]]:
    if task.kind == "classification":
        return {"mean": [0.0] * len(task.labels), "std": [1.0] * len(task.labels)}
    values = []
    for row in shard.rows():
        values.append(row["y"])
        if len(values) >= limit:
            break
    array = np.array(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        mean, std = np.nanmean(array, axis=0), np.nanstd(array, axis=0)
    return {"mean": np.nan_to_num(mean).tolist(), "std": np.where(std > 1e-8, std, 1.0).tolist()}


def _agree_min(value: int, world: int) -> int:
    if world == 1:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value])
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
