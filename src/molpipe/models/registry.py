"""Models by name.

A model kind declares the featurizers it reads (by featurizer spec, so training and serving compute exactly the
same features), learns its preprocessing from the training set (:meth:`ModelKind.fit`), builds its
``torch.nn.Module`` and turns a list of per-molecule feature dicts into a batch (:meth:`ModelKind.collate`). The
same ``collate`` serves training (rows read from the ``features`` table) and prediction (features computed from
SMILES), so a served model cannot drift from the trained one.

Adding one is a subclass with ``@register_model("name")``; ``molpipe train --model name`` accepts it.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np

from molpipe.featurize import Featurizer, get_featurizer
from molpipe.registries import Registry

# One molecule's inputs: featurizer name -> its output (vector or GraphArrays), plus "smiles" (standardized)
Features = dict[str, Any]


class ModelKind(ABC):
    """A model architecture with its hyperparameters (dataclass fields) and learned preprocessing state."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def featurizer_specs(self) -> list[str]:
        """Featurizers this model reads, as ``get_featurizer`` strings."""

    def featurizers(self) -> list[Featurizer]:
        return [get_featurizer(text) for text in self.featurizer_specs]

    def fit(self, train: Sequence[Features]) -> dict[str, Any]:
        """Learn preprocessing from the training molecules; returns state stored with the model."""
        return {}

    @abstractmethod
    def build(self, n_tasks: int, state: dict[str, Any]):
        """The ``torch.nn.Module``; its forward takes what :meth:`collate` returns and gives [batch, n_tasks]."""

    def initialize(self, module, state: dict[str, Any]) -> None:
        """Load starting weights into a freshly built module before training (pretrained encoders)."""

    @abstractmethod
    def collate(self, molecules: Sequence[Features], state: dict[str, Any]) -> Any:
        """Model inputs for a batch of molecules."""

    def search_space(self, trial) -> dict[str, Any]:
        """Hyperparameters an Optuna ``trial`` proposes for ``molpipe tune`` (none by default)."""
        return {}

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


MODELS: Registry[type[ModelKind]] = Registry("model")
register_model = MODELS.register
available_models = MODELS.names

# What `molpipe train` trains when no model is named, by task kind: the best of molpipe's models against Chemprop
# on the same balanced scaffold splits (docs/performance.md, "Against Chemprop"): fp-mlp on HIV's ROC-AUC (0.804
# against Chemprop's 0.794, 3 seeds), Tox21's mean ROC-AUC (0.812 against gnn's 0.806 and Chemprop's 0.802) and
# ESOL's RMSE (0.722 against Chemprop's 0.798 and gnn's 0.938).
DEFAULT_MODELS = {"classification": "fp-mlp", "regression": "fp-mlp"}


def get_model(name: str, **params: Any) -> ModelKind:
    cls = MODELS.get(name)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(params) - known
    if unknown:
        raise ValueError(
            f"model {name!r} has no parameter(s) {', '.join(sorted(unknown))}; it has: {', '.join(sorted(known))}"
        )
    return cls(**params)


def fit_descriptors(train: Sequence[Features]) -> dict[str, Any]:
    """Preprocessing state of a model that reads the RDKit 2D descriptors: their training-set scaling."""
    return {"rdkit2d": standardizer(np.stack([m["rdkit2d"] for m in train]))}


def descriptor_block(molecules: Sequence[Features], state: dict[str, Any]) -> np.ndarray:
    """The batch's descriptors scaled with the training statistics, [batch, n_descriptors]."""
    return standardize(np.stack([m["rdkit2d"] for m in molecules]), state["rdkit2d"])


def standardizer(rows: np.ndarray) -> dict[str, list[float]]:
    """Column means and standard deviations ignoring NaN (descriptors); constant columns get std 1."""
    with np.errstate(all="ignore"):
        mean = np.nanmean(rows, axis=0)
        std = np.nanstd(rows, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
    return {"mean": mean.tolist(), "std": std.tolist()}


def standardize(rows: np.ndarray, stats: dict[str, list[float]], clip: float = 10.0) -> np.ndarray:
    """Scale with training statistics; missing (NaN) becomes the training mean (0 after scaling)."""
    scaled = (rows - np.asarray(stats["mean"], dtype=np.float32)) / np.asarray(stats["std"], dtype=np.float32)
    return np.clip(np.nan_to_num(scaled, nan=0.0, posinf=clip, neginf=-clip), -clip, clip).astype(np.float32)
