"""What is being predicted: one or more labels, all classification or all regression; missing labels are masked.

Pure numpy/torch: losses and metrics are tested without Spark or MLflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TASK_TYPES = ("classification", "regression")


@dataclass(frozen=True)
class Task:
    labels: tuple[str, ...]
    kind: str  # "classification" | "regression"

    def __post_init__(self) -> None:
        if self.kind not in TASK_TYPES:
            raise ValueError(f"task type must be one of {TASK_TYPES}, got {self.kind!r}")
        if not self.labels:
            raise ValueError("a task needs at least one label")

    @property
    def name(self) -> str:
        return self.labels[0] if len(self.labels) == 1 else f"{len(self.labels)}-tasks"

    @property
    def primary_metric(self) -> str:
        return "roc_auc" if self.kind == "classification" else "rmse"

    @property
    def higher_is_better(self) -> bool:
        return self.kind == "classification"


def infer_kind(values: np.ndarray) -> str:
    """Classification when every observed label lies in [0, 1] and almost all are exactly 0 or 1: a molecule
    measured as both active and inactive has the mean of its measurements (0.5), which stays a soft binary label."""
    observed = values[~np.isnan(values)]
    if not observed.size or observed.min() < 0.0 or observed.max() > 1.0:
        return "regression"
    return "classification" if np.isin(observed, (0.0, 1.0)).mean() >= 0.95 else "regression"


def binary_targets(values: np.ndarray) -> np.ndarray:
    """Class labels for metrics and curves: soft labels (averaged duplicates) count by majority."""
    return (values >= 0.5).astype(float)


def masked_loss(logits, targets, kind: str):
    """Mean loss over the observed labels only (NaN targets are missing, as in Tox21). Classification targets may
    be soft (0.5 for a molecule measured both active and inactive): binary cross-entropy takes them as they are."""
    import torch
    import torch.nn.functional as F

    mask = ~torch.isnan(targets)
    if not mask.any():
        return logits.sum() * 0.0  # keeps the graph connected so DDP's gradient all-reduce still happens
    filled = torch.where(mask, targets, torch.zeros_like(targets))
    if kind == "classification":
        losses = F.binary_cross_entropy_with_logits(logits, filled, reduction="none")
    else:
        losses = (logits - filled) ** 2
    return (losses * mask).sum() / mask.sum()


def metrics(predictions: np.ndarray, targets: np.ndarray, kind: str) -> dict[str, float]:
    """Per-label metrics averaged over labels (each on its observed rows). Classification: ROC-AUC and PR-AUC
    (a label with one class only is skipped); regression: RMSE, MAE and R^2."""
    from sklearn.metrics import average_precision_score, mean_absolute_error, r2_score, roc_auc_score

    predictions = predictions.reshape(len(predictions), -1)
    targets = targets.reshape(len(targets), -1)
    scores: dict[str, list[float]] = {}
    for column in range(targets.shape[1]):
        mask = ~np.isnan(targets[:, column])
        y, p = targets[mask, column], predictions[mask, column]
        if kind == "classification":
            y = binary_targets(y)
            if len(np.unique(y)) < 2:
                continue
            scores.setdefault("roc_auc", []).append(roc_auc_score(y, p))
            scores.setdefault("pr_auc", []).append(average_precision_score(y, p))
        elif len(y):
            scores.setdefault("rmse", []).append(math.sqrt(float(np.mean((y - p) ** 2))))
            scores.setdefault("mae", []).append(mean_absolute_error(y, p))
            scores.setdefault("r2", []).append(r2_score(y, p) if len(y) > 1 else math.nan)
    return {name: float(np.mean(values)) for name, values in scores.items()}


def label_units(logits, state, task: Task):
    """Model outputs in label units: probabilities, or regression values un-scaled."""
    import torch

    if task.kind == "classification":
        return torch.sigmoid(logits)
    return logits * torch.tensor(state["targets"]["std"]) + torch.tensor(state["targets"]["mean"])
