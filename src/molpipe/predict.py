"""SMILES in, predictions out: the trained model with its standardization and featurization inside.

:class:`Predictor` loads a model folder (``config.json``, ``state.json``, one weights file per ensemble member) and
predicts for raw SMILES, row by row valid or not: a SMILES that fails standardization or featurization gets
``valid = False`` and the reason, never an exception for the whole batch. With several members (``molpipe train
--ensemble N``) or MC-dropout it also gives an uncertainty: the standard deviation over members or samples. :class:`MolpipePyfunc` is the MLflow pyfunc around it, so
``models:/NAME@champion`` serves, scores in Spark (``mlflow.pyfunc.spark_udf``) and validates the same way.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from rdkit import Chem

from molpipe.chem.standardize import Rejected, StandardizeOptions, standardize_structure
from molpipe.train.tasks import Task

try:  # the pyfunc base class only when MLflow is there; the predictor itself needs none
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object


UNCERTAINTY = ("auto", "none", "ensemble", "mc-dropout")


class Predictor:
    """A trained model folder: ``config.json``, ``state.json`` and one weights file per ensemble member
    (``config["weights"]``, default ``["model.pt"]``)."""

    def __init__(self, model_dir: str | Path):
        import torch

        from molpipe.models import get_model

        folder = Path(model_dir)
        self.config = json.loads((folder / "config.json").read_text())
        self.state = json.loads((folder / "state.json").read_text())
        self.task = Task(tuple(self.config["task"]["labels"]), self.config["task"]["kind"])
        self.kind = get_model(self.config["model"], **self.config["model_params"])
        self.featurizers = self.kind.featurizers()
        self.options = StandardizeOptions(**self.config["standardize"])
        self.members = []
        for weights in self.config.get("weights", ["model.pt"]):
            module = self.kind.build(len(self.task.labels), self.state)
            module.load_state_dict(torch.load(folder / weights, map_location="cpu", weights_only=True))
            self.members.append(module.eval())

    def output_columns(self) -> list[str]:
        per_label = len(self.task.labels) > 1
        return ["prediction", "uncertainty"] + (
            [f"{kind}_{label}" for label in self.task.labels for kind in ("prediction", "uncertainty")]
            if per_label
            else []
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
        self, molecules: Sequence[dict], uncertainty: str = "auto", samples: int = 10, batch_size: int = 256,
        seed: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Mean and standard deviation [n, n_tasks] in label units (probabilities for classification).

        ``ensemble``: over the members; ``mc-dropout``: over ``samples`` passes of every member with dropout on
        (seeded per batch); ``none``: the members' mean and NaN; ``auto``: ``ensemble`` when there are several
        members, else ``none``."""
        import torch

        from molpipe.train.loop import _output

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
                            draws += [_output(module(inputs), self.state, self.task).numpy() for _ in range(samples)]
                    else:
                        draws.append(_output(module(inputs), self.state, self.task).numpy())
                stacked = np.stack(draws)
                mean[start : start + len(stacked[0])] = stacked.mean(axis=0)
                if method != "none":
                    std[start : start + len(stacked[0])] = stacked.std(axis=0)
        return mean, std

    def predict(self, smiles: Sequence[Any], uncertainty: str = "auto", samples: int = 10) -> pd.DataFrame:
        n = len(smiles)
        out = pd.DataFrame({"smiles": list(smiles), "standardized_smiles": None, "inchikey": None,
                            "valid": False, "error": None})  # fmt: skip
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
        out["prediction"], out["uncertainty"] = mean[:, 0], std[:, 0]
        if len(self.task.labels) > 1:
            for column, label in enumerate(self.task.labels):
                out[f"prediction_{label}"], out[f"uncertainty_{label}"] = mean[:, column], std[:, column]
        return out


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


class MolpipePyfunc(PythonModel):
    """MLflow pyfunc: a DataFrame with a ``smiles`` column (or a list of SMILES) in; per-row predictions out."""

    def load_context(self, context) -> None:
        self.predictor = Predictor(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None):
        params = params or {}
        if isinstance(model_input, pd.DataFrame):
            if "smiles" not in model_input.columns:
                raise ValueError(f"input needs a 'smiles' column; got columns {list(model_input.columns)}")
            smiles = model_input["smiles"].tolist()
        else:
            smiles = list(model_input)
        return self.predictor.predict(smiles, params.get("uncertainty", "auto"), int(params.get("samples", 10)))
