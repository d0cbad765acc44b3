"""``fp-mlp``: a multilayer perceptron over a Morgan fingerprint and (optionally) the RDKit 2D descriptors.

The fast baseline. Descriptors are standardized with training-set statistics (missing values become the mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from molpipe.models.registry import Features, ModelKind, descriptor_block, fit_descriptors, register_model


@register_model("fp-mlp")
@dataclass(frozen=True)
class FingerprintMLP(ModelKind):
    n_bits: int = 2048
    radius: int = 2
    descriptors: bool = True
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.2

    @property
    def featurizer_specs(self) -> list[str]:
        specs = [f"morgan:radius={self.radius}:n_bits={self.n_bits}"]
        return specs + (["rdkit2d"] if self.descriptors else [])

    def search_space(self, trial) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [256, 512, 1024]),
            "layers": trial.suggest_int("layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }

    def fit(self, train: Sequence[Features]) -> dict[str, Any]:
        return fit_descriptors(train) if self.descriptors else {}

    def collate(self, molecules: Sequence[Features], state: dict[str, Any]):
        import torch

        parts = [np.stack([m["morgan"] for m in molecules]).astype(np.float32)]
        if self.descriptors:
            parts.append(descriptor_block(molecules, state))
        return torch.from_numpy(np.concatenate(parts, axis=1))

    def build(self, n_tasks: int, state: dict[str, Any]):
        from torch import nn

        width = self.n_bits + (len(state["rdkit2d"]["mean"]) if self.descriptors else 0)
        blocks: list = []
        for _ in range(self.layers):
            blocks += [nn.Linear(width, self.hidden), nn.ReLU(), nn.Dropout(self.dropout)]
            width = self.hidden
        return nn.Sequential(*blocks, nn.Linear(width, n_tasks))
