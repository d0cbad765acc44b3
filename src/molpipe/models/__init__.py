"""Model architectures by name: ``fp-mlp`` (fingerprint MLP) and ``gnn`` (GINE message passing)."""

from molpipe.models import fp_mlp, gnn  # noqa: F401  (importing registers the models)
from molpipe.models.registry import Features, ModelKind, available_models, get_model

__all__ = ["Features", "ModelKind", "available_models", "get_model"]
