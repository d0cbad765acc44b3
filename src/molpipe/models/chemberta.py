"""``chemberta``: a RoBERTa encoder over SMILES (Hugging Face ``transformers``) with a DNN head ("ChemBERTaDNN").

Weights come from ``pretrained``: a folder in Hugging Face format (``config.json``, weights, tokenizer files),
either one a team already has (real ChemBERTa weights, a Unity Catalog Volume path) or the output of
``molpipe pretrain`` (masked-language-model pretraining on the library's own SMILES); ``runs:/…`` and
``models:/…`` MLflow artifact URIs are downloaded first. Nothing is fetched from a model hub.

The fitted state carries the encoder's config and the tokenizer, so a logged model needs no folder at serving
time: the weights are in its state dict.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from molpipe.models.registry import Features, ModelKind, register_model


@register_model("chemberta")
@dataclass(frozen=True)
class ChemBERTaDNN(ModelKind):
    pretrained: str = ""
    head_hidden: int = 256
    dropout: float = 0.1
    max_length: int = 128
    pooling: str = "cls"  # "cls" or "mean"

    @property
    def featurizer_specs(self) -> list[str]:
        return []  # reads the standardized SMILES itself

    def search_space(self, trial) -> dict[str, Any]:
        return {
            "head_hidden": trial.suggest_categorical("head_hidden", [128, 256, 512]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "pooling": trial.suggest_categorical("pooling", ["cls", "mean"]),
        }

    def fit(self, train: Sequence[Features]) -> dict[str, Any]:
        from transformers import AutoConfig, AutoTokenizer

        folder = resolve_pretrained(self.pretrained)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return {
            "pretrained": str(folder),
            "encoder_config": AutoConfig.from_pretrained(folder).to_dict(),
            "tokenizer": tokenizer.backend_tokenizer.to_str(),
            "special_tokens": {k: v for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)},
        }

    def build(self, n_tasks: int, state: dict[str, Any]):
        from transformers import AutoConfig, AutoModel

        from molpipe.models.networks import ChemBERTaDNNNetwork

        config = dict(state["encoder_config"])
        encoder = AutoModel.from_config(
            AutoConfig.for_model(config.pop("model_type"), **config), add_pooling_layer=False
        )
        return ChemBERTaDNNNetwork(encoder, self.head_hidden, self.dropout, self.pooling, n_tasks)

    def initialize(self, module, state: dict[str, Any]) -> None:
        from transformers import AutoModel

        pretrained = AutoModel.from_pretrained(state["pretrained"], add_pooling_layer=False)
        missing, _ = module.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if missing:
            raise ValueError(f"pretrained weights in {state['pretrained']} lack encoder parameters: {missing[:5]}")

    def collate(self, molecules: Sequence[Features], state: dict[str, Any]):
        tokenizer = _tokenizer(state["tokenizer"], tuple(sorted(state["special_tokens"].items())))
        return tokenizer(
            [m["smiles"] for m in molecules],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )


def resolve_pretrained(location: str) -> Path:
    """A local folder of Hugging Face weights; MLflow artifact URIs are downloaded."""
    if not location:
        raise ValueError(
            "chemberta needs pretrained weights: --param pretrained=DIR (a folder with config.json, weights and "
            "tokenizer files, e.g. ChemBERTa or a UC Volume path) or the output of `molpipe pretrain --library NAME`"
        )
    if location.startswith(("runs:/", "models:/", "dbfs:/")):
        import mlflow

        return Path(mlflow.artifacts.download_artifacts(location))
    folder = Path(location).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: not a folder of pretrained weights (no config.json)")
    return folder


@functools.lru_cache(maxsize=4)
def _tokenizer(serialized: str, special_tokens: tuple):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(serialized), **dict(special_tokens))
