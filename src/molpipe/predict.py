"""SMILES in, predictions out: the trained model with its standardization and featurization inside.

:class:`Predictor` loads a model folder (``config.json``, ``state.json``, ``model.pt``) and predicts for raw
SMILES, row by row valid or not: a SMILES that fails standardization or featurization gets ``valid = False`` and
the reason, never an exception for the whole batch. :class:`MolpipePyfunc` is the MLflow pyfunc around it, so
``models:/NAME@champion`` serves, scores in Spark (``mlflow.pyfunc.spark_udf``) and validates the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from molpipe.chem.standardize import Rejected, StandardizeOptions, standardize_structure
from molpipe.train.tasks import Task

try:  # the pyfunc base class only when MLflow is there; the predictor itself needs none
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object


class Predictor:
    def __init__(self, model_dir: str | Path):
        import torch
        from rdkit import Chem

        from molpipe.models import get_model

        folder = Path(model_dir)
        self.config = json.loads((folder / "config.json").read_text())
        self.state = json.loads((folder / "state.json").read_text())
        self.task = Task(tuple(self.config["task"]["labels"]), self.config["task"]["kind"])
        self.kind = get_model(self.config["model"], **self.config["model_params"])
        self.featurizers = self.kind.featurizers()
        self.options = StandardizeOptions(**self.config["standardize"])
        self.module = self.kind.build(len(self.task.labels), self.state)
        self.module.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        self.module.eval()
        self._parse = Chem.MolFromSmiles

    def output_columns(self) -> list[str]:
        return ["prediction"] + (
            [f"prediction_{label}" for label in self.task.labels] if len(self.task.labels) > 1 else []
        )

    def predict(self, smiles: Sequence[Any], batch_size: int = 256) -> pd.DataFrame:
        import torch

        from molpipe.train.loop import _output

        n = len(smiles)
        out = pd.DataFrame({"smiles": list(smiles), "standardized_smiles": None, "inchikey": None,
                            "valid": False, "error": None})  # fmt: skip
        values = np.full((n, len(self.task.labels)), np.nan, dtype=np.float64)
        ready: list[tuple[int, dict]] = []
        for i, text in enumerate(smiles):
            if not isinstance(text, str):
                out.at[i, "error"] = f"not a SMILES string: {type(text).__name__}"
                continue
            outcome = standardize_structure(text, "smiles", self.options)
            if isinstance(outcome, Rejected):
                out.at[i, "error"] = f"{outcome.reason.value}: {outcome.detail}"
                continue
            mol = self._parse(outcome.smiles)
            try:
                features = {"smiles": outcome.smiles, **{f.name: f.compute(mol) for f in self.featurizers}}
            except Exception as exc:
                out.at[i, "error"] = f"featurizer_error: {type(exc).__name__}: {exc}"
                continue
            out.at[i, "standardized_smiles"], out.at[i, "inchikey"] = outcome.smiles, outcome.inchikey
            ready.append((i, features))
        with torch.no_grad():
            for start in range(0, len(ready), batch_size):
                chunk = ready[start : start + batch_size]
                logits = self.module(self.kind.collate([f for _, f in chunk], self.state))
                values[[i for i, _ in chunk]] = _output(logits, self.state, self.task).numpy()
        out.loc[[i for i, _ in ready], "valid"] = True
        out["prediction"] = values[:, 0]
        if len(self.task.labels) > 1:
            for column, label in enumerate(self.task.labels):
                out[f"prediction_{label}"] = values[:, column]
        return out


class MolpipePyfunc(PythonModel):
    """MLflow pyfunc: a DataFrame with a ``smiles`` column (or a list of SMILES) in; per-row predictions out."""

    def load_context(self, context) -> None:
        self.predictor = Predictor(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None):
        if isinstance(model_input, pd.DataFrame):
            if "smiles" not in model_input.columns:
                raise ValueError(f"input needs a 'smiles' column; got columns {list(model_input.columns)}")
            smiles = model_input["smiles"].tolist()
        else:
            smiles = list(model_input)
        return self.predictor.predict(smiles)
