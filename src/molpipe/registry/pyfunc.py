"""The MLflow pyfunc of a molpipe model: what ``mlflow models serve``, ``mlflow.pyfunc.spark_udf`` and
``mlflow.pyfunc.load_model`` run for ``models:/NAME@champion``. A :class:`~molpipe.models.predictor.Predictor` inside; its own
module so that the predictor loads without MLflow.
"""

from __future__ import annotations

import warnings

import pandas as pd
from mlflow.pyfunc import PythonModel

from molpipe.config import ScoreOptions
from molpipe.models.predictor import Predictor

# MLflow's PythonModel hook warns, under a filter of its own, that ``predict`` has no type hints: a stray line in
# every job log. Recorded and dropped at the one place it fires.
with warnings.catch_warnings(record=True):

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
            return self.predictor.predict(
                smiles,
                params.get("uncertainty", "auto"),
                int(params.get("samples", 10)),
                float(params.get("coverage", ScoreOptions.coverage)),
            )
