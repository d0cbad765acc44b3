"""Model architectures by name: ``fp-mlp`` (fingerprint MLP), ``gnn`` (GINE message passing) and ``chemberta``
(RoBERTa over SMILES with a DNN head)."""

from molpipe.models import chemberta, fp_mlp, gnn  # noqa: F401  (importing registers the models)
from molpipe.models.registry import DEFAULT_MODELS, Features, ModelKind, available_models, get_model

__all__ = ["DEFAULT_MODELS", "Features", "ModelKind", "available_models", "get_model"]
