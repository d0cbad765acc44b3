"""SMILES in, predictions out: the trained model with its standardization and featurization inside.

:class:`Predictor` loads a model folder (``config.json``, ``state.json``, one weights file per ensemble member) and
predicts for raw SMILES, row by row valid or not: a SMILES that fails standardization or featurization gets
``valid = False`` and the reason, never an exception for the whole batch. With several members (``molpipe train
--ensemble N``) or MC-dropout it also gives an uncertainty: the standard deviation over members or samples.
:class:`molpipe.registry.pyfunc.MolpipePyfunc` is the MLflow pyfunc around it. Nothing here imports MLflow (seconds, in every
scoring and serving worker) unless a model folder is not molpipe's.
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from rdkit import Chem

from molpipe.chem.standardize import Rejected, standardize_structure
from molpipe.config import ScoreOptions, StandardizeOptions
from molpipe.featurize import Featurizer
from molpipe.featurize.domain import DOMAIN_FILE, TrainingIndex, on_bits
from molpipe.models import ModelKind, get_model
from molpipe.models.calibration import Calibration
from molpipe.models.tasks import Task, label_units

UNCERTAINTY = ("auto", "none", "ensemble", "mc-dropout")
OUTPUTS = ("prediction", "uncertainty", "prediction_lower", "prediction_upper")  # per molecule (and label)


@dataclass(frozen=True)
class ModelFolder:
    """A model folder's ``config.json``, read without torch: the task, the model kind with its featurizers and the
    ensemble's weights files. What a job needs to plan around a model it does not run itself."""

    path: Path
    config: dict[str, Any]

    @classmethod
    def read(cls, path: str | Path) -> "ModelFolder":
        return cls(Path(path), json.loads((Path(path) / "config.json").read_text()))

    @property
    def task(self) -> Task:
        return Task(tuple(self.config["task"]["labels"]), self.config["task"]["kind"])

    @functools.cached_property
    def kind(self) -> ModelKind:
        return get_model(self.config["model"], **self.config["model_params"])

    @property
    def featurizers(self) -> list[Featurizer]:
        return self.kind.featurizers()

    @property
    def weights(self) -> list[str]:
        """One weights file per ensemble member."""
        return self.config.get("weights", ["model.pt"])


class Predictor:
    """A trained model folder (:class:`ModelFolder`: ``config.json``, ``state.json`` and one weights file per
    ensemble member), built into torch modules."""

    def __init__(self, model_dir: str | Path):
        import torch

        folder = ModelFolder.read(model_dir)
        self.config = folder.config
        self.state = json.loads((folder.path / "state.json").read_text())
        self.task = folder.task
        self.kind = folder.kind
        self.featurizers = folder.featurizers
        self.options = StandardizeOptions(**self.config["standardize"])
        self.calibration = Calibration.read(folder.path)  # None: trained before molpipe calibrated its models
        self._domain_file = folder.path / DOMAIN_FILE  # where the intervals scale with the distance from training
        self.members = []
        for weights in folder.weights:
            module = self.kind.build(len(self.task.labels), self.state)
            module.load_state_dict(torch.load(folder.path / weights, map_location="cpu", weights_only=True))
            self.members.append(module.eval())

    def output_columns(self) -> list[str]:
        per_label = len(self.task.labels) > 1
        return list(OUTPUTS) + (
            [f"{kind}_{label}" for label in self.task.labels for kind in OUTPUTS] if per_label else []
        )

    def features(self, smiles: str) -> tuple[dict | None, str | None, tuple[str, str] | None]:
        """Standardize and featurize one raw SMILES: (features, error, (standardized SMILES, InChIKey))."""
        if not isinstance(smiles, str):
            return None, f"not a SMILES string: {type(smiles).__name__}", None
        outcome = standardize_structure(smiles, "smiles", self.options, scaffold=False)
        if isinstance(outcome, Rejected):
            return None, f"{outcome.reason.value}: {outcome.detail}", None
        try:
            return self.complete({"smiles": outcome.smiles}), None, (outcome.smiles, outcome.inchikey)
        except Exception as exc:
            return None, f"featurizer_error: {type(exc).__name__}: {exc}", None

    def complete(self, features: dict, mol: Chem.Mol | None = None) -> dict:
        """Compute the featurizers missing from ``features`` from its standardized ``smiles`` (or from ``mol``,
        that SMILES already parsed)."""
        missing = [f for f in self.featurizers if features.get(f.name) is None]
        if missing:
            mol = mol if mol is not None else Chem.MolFromSmiles(features["smiles"])
            features = {**features, **{f.name: f.compute(mol) for f in missing}}
        return features

    def predict_features(
        self,
        molecules: Sequence[dict],
        uncertainty: str = "auto",
        samples: int = 10,
        batch_size: int = 256,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation [n, n_tasks] in label units (probabilities for classification, calibrated
        where the model was: :mod:`molpipe.models.calibration`).

        ``ensemble``: over the members; ``mc-dropout``: over ``samples`` passes of every member with dropout on
        (seeded per batch); ``none``: the members' mean and NaN; ``auto``: ``ensemble`` when there are several
        members, else ``none``."""
        import torch

        method = resolve_uncertainty(uncertainty, len(self.members))
        n_tasks = len(self.task.labels)
        mean = np.full((len(molecules), n_tasks), np.nan)
        std = np.full((len(molecules), n_tasks), np.nan)
        with torch.no_grad():
            for start in range(0, len(molecules), batch_size):
                inputs = self.kind.collate(molecules[start : start + batch_size], self.state)
                draws = []
                for module in self.members:
                    if method == "mc-dropout":
                        torch.manual_seed(seed + start)
                        with _dropout_on(module):
                            draws += [
                                label_units(module(inputs), self.state, self.task).numpy() for _ in range(samples)
                            ]
                    else:
                        draws.append(label_units(module(inputs), self.state, self.task).numpy())
                stacked = np.stack(draws)
                mean[start : start + len(stacked[0])] = stacked.mean(axis=0)
                if method != "none":
                    std[start : start + len(stacked[0])] = stacked.std(axis=0)
        return (mean if self.calibration is None else self.calibration.probabilities(mean)), std

    def interval(
        self, mean: np.ndarray, std: np.ndarray, coverage: float, similarity: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Conformal bounds [n, n_tasks] of a regression model at ``coverage``; NaN for classification and for a
        model trained before molpipe calibrated. ``similarity`` [n]: each molecule's highest Tanimoto similarity to
        the training set (:meth:`similarity`), which a model whose intervals scale with that distance needs (NaN
        bounds without)."""
        if self.calibration is None:
            return np.full(mean.shape, np.nan), np.full(mean.shape, np.nan)
        return self.calibration.interval(mean, std, coverage, similarity)

    @functools.cached_property
    def domain(self) -> TrainingIndex | None:
        """The training set's fingerprint index, for a model whose intervals scale with the distance from it; read
        on first use, so a scoring worker, which measures the distance with the job's own index, never loads it."""
        path = self._domain_file
        return TrainingIndex.from_bytes(path.read_bytes()) if path.is_file() else None

    def similarity(self, bits: Sequence[np.ndarray]) -> np.ndarray | None:
        """The highest Tanimoto similarity of each molecule (its domain on-bits) to the training set; None for a
        model whose intervals do not depend on it (its folder keeps no training index)."""
        return None if self.domain is None else self.domain.max_similarity(bits)

    def predict(
        self,
        smiles: Sequence[Any],
        uncertainty: str = "auto",
        samples: int = 10,
        coverage: float = ScoreOptions.coverage,
    ) -> pd.DataFrame:
        n = len(smiles)
        out = pd.DataFrame(
            {"smiles": list(smiles), "standardized_smiles": None, "inchikey": None, "valid": False, "error": None}
        )
        ready: list[tuple[int, dict]] = []
        for i, text in enumerate(smiles):
            features, error, names = self.features(text)
            if features is None:
                out.at[i, "error"] = error
                continue
            out.at[i, "standardized_smiles"], out.at[i, "inchikey"] = names
            ready.append((i, features))
        mean = np.full((n, len(self.task.labels)), np.nan)
        std = np.full_like(mean, np.nan)
        if ready:
            rows = [i for i, _ in ready]
            mean[rows], std[rows] = self.predict_features([f for _, f in ready], uncertainty, samples)
        out.loc[[i for i, _ in ready], "valid"] = True
        similarity = None  # parsed only for a model whose intervals need it
        if self.domain is not None:
            similarity = self.similarity(
                [on_bits(s if isinstance(s, str) else None) for s in out["standardized_smiles"]]
            )
        values = dict(zip(OUTPUTS, (mean, std, *self.interval(mean, std, coverage, similarity))))
        for kind in OUTPUTS:
            out[kind] = values[kind][:, 0]
        if len(self.task.labels) > 1:
            for column, label in enumerate(self.task.labels):
                for kind in OUTPUTS:
                    out[f"{kind}_{label}"] = values[kind][:, column]
        return out


def model_dir(path: str | Path) -> Path | None:
    """The folder :class:`Predictor` loads, inside a downloaded molpipe pyfunc (a local copy of
    ``models:/NAME/VERSION``): its ``model_dir`` artifact. None for a pyfunc that is not molpipe's."""
    import yaml

    mlmodel = yaml.safe_load((Path(path) / "MLmodel").read_text())
    artifacts = (mlmodel.get("flavors", {}).get("python_function", {}) or {}).get("artifacts") or {}
    return Path(path) / artifacts["model_dir"]["path"] if "model_dir" in artifacts else None


def load_model_folder(path: str | Path) -> Predictor:
    """The :class:`Predictor` of a downloaded molpipe pyfunc, built from its :func:`model_dir` directly: no
    registry call, no unpickling of ``python_model.pkl``, no dependency check. A pyfunc without one goes through
    MLflow's own loader and must wrap a predictor."""
    folder = model_dir(path)
    if folder is not None:
        return Predictor(folder)
    import mlflow

    predictor = getattr(mlflow.pyfunc.load_model(str(path)).unwrap_python_model(), "predictor", None)
    if predictor is None:
        raise ValueError(f"{path} is not a molpipe model (its python model has no predictor)")
    return predictor


def resolve_uncertainty(method: str, members: int) -> str:
    if method not in UNCERTAINTY:
        raise ValueError(f"unknown uncertainty method {method!r}; choose from {', '.join(UNCERTAINTY)}")
    if method == "auto":
        return "ensemble" if members > 1 else "none"
    if method == "ensemble" and members < 2:
        raise ValueError("uncertainty 'ensemble' needs a model trained with --ensemble N (N >= 2); use 'mc-dropout'")
    return method


@contextlib.contextmanager
def _dropout_on(module):
    import torch

    dropouts = [m for m in module.modules() if isinstance(m, torch.nn.Dropout)]
    for m in dropouts:
        m.train()
    try:
        yield
    finally:
        for m in dropouts:
            m.eval()
