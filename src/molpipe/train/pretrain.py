"""``molpipe pretrain``: masked-language-model pretraining of a RoBERTa encoder on a library's own SMILES.

Every standardized SMILES of the library, labeled or not, is used; 2 % (by InChIKey hash) is held out for the
validation MLM loss. The SMILES are streamed from the ``molecules`` table in batches (``toLocalIterator``), so the
driver never holds the library. The result is a Hugging Face folder (``config.json``, weights, tokenizer) under
``$MOLPIPE_HOME/pretrained/<library>`` (or ``--out``), logged to MLflow as the artifact ``pretrained``: pass
either to ``molpipe train --model chemberta --param pretrained=…``.
"""

from __future__ import annotations

import math
import random
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from molpipe.lake.tables import Catalog
from molpipe.models.smiles_tokenizer import build_tokenizer
from molpipe.registry import tracking
from molpipe.runtime import progress


@dataclass
class PretrainConfig:
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 5e-4
    max_length: int = 128
    mask_probability: float = 0.15
    seed: int = 0


@dataclass
class PretrainSummary:
    library: str
    out: str
    run_id: str
    molecules: int
    vocabulary: int
    parameters: int
    epochs: int
    valid_mlm_loss: float
    seconds: float

    def describe(self) -> str:
        """What ``molpipe pretrain`` prints: the model, and the command that trains on it."""
        return (
            f"pretrained a {self.parameters:,}-parameter RoBERTa on {self.molecules:,} SMILES of '{self.library}' "
            f"(vocabulary {self.vocabulary}, valid MLM loss {self.valid_mlm_loss:.3f}) in {self.seconds:.0f} s "
            f"-> {self.out}\n"
            f"train on it: molpipe train --library {self.library} --model chemberta --param pretrained={self.out}"
        )


def pretrain(catalog: Catalog, *, library: str, config: PretrainConfig, out: str | None = None) -> PretrainSummary:
    """Masked-language-model pretraining of a SMILES RoBERTa on the library's molecules, saved to ``out`` for
    ``molpipe train --model chemberta --param pretrained=...`` (weights come from a path, never a hub)."""
    import mlflow
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM

    started = time.monotonic()
    torch.manual_seed(config.seed)
    folder = Path(out) if out else catalog.settings.home_path / "pretrained" / library
    count = _smiles_query(catalog, library).count()
    if count == 0:
        raise ValueError(f"library {library!r} has no molecules: run `molpipe featurize --library {library}` first")
    tokenizer = build_tokenizer((smiles for smiles, _ in _stream(catalog, library)), model_max_length=config.max_length)
    model = RobertaForMaskedLM(
        RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=config.hidden,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            intermediate_size=4 * config.hidden,
            max_position_embeddings=config.max_length + 2,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            type_vocab_size=1,
        )
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    tracking.configure(catalog.settings, catalog.databricks)
    experiment = tracking.experiment_id(catalog.settings, library, "pretrain", catalog.databricks)
    generator = torch.Generator().manual_seed(config.seed)
    valid_loss = math.nan
    with mlflow.start_run(
        experiment_id=experiment, run_name=f"pretrain-chemberta-{library}", tags=tracking.run_tags("pretraining")
    ) as run:
        mlflow.log_params({**asdict(config), "library": library, "molecules": count, "vocabulary": len(tokenizer)})
        step = 0
        for epoch in range(config.epochs):
            model.train()
            with progress.track(f"pretrain epoch {epoch + 1}/{config.epochs}", total=count, unit="molecules"):
                for batch in _batches(catalog, library, config.batch_size, train=True, seed=config.seed + epoch):
                    inputs, labels = _mask(
                        tokenizer(
                            batch, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt"
                        ),
                        tokenizer,
                        config.mask_probability,
                        generator,
                    )
                    loss = model(**inputs, labels=labels).loss
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    progress.advance(len(batch))
                    if step % 50 == 0:
                        mlflow.log_metric("train_mlm_loss", loss.item(), step=step)
                    step += 1
            valid_loss = _valid_loss(model, tokenizer, catalog, library, config, generator)
            mlflow.log_metric("valid_mlm_loss", valid_loss, step=epoch)
        folder.mkdir(parents=True, exist_ok=True)
        model.roberta.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        mlflow.log_artifacts(str(folder), "pretrained")
    return PretrainSummary(
        library,
        str(folder),
        run.info.run_id,
        count,
        len(tokenizer),
        sum(p.numel() for p in model.roberta.parameters()),
        config.epochs,
        valid_loss,
        round(time.monotonic() - started, 1),
    )


def _smiles_query(catalog: Catalog, library: str):
    from pyspark.sql import functions as F

    return catalog.read("molecules").where(F.col("library") == library).select("inchikey", "smiles")


def _stream(catalog: Catalog, library: str) -> Iterator[tuple[str, bool]]:
    """(SMILES, is held out) for every molecule, streamed."""
    for row in _smiles_query(catalog, library).toLocalIterator():
        yield row["smiles"], zlib.crc32(row["inchikey"].encode()) % 50 == 0


def _batches(
    catalog: Catalog, library: str, size: int, train: bool, seed: int, buffer: int = 50_000
) -> Iterator[list[str]]:
    rng = random.Random(seed)
    pending: list[str] = []
    for smiles, held_out in _stream(catalog, library):
        if held_out == train:
            continue
        pending.append(smiles)
        if len(pending) >= buffer:
            rng.shuffle(pending)
            while len(pending) > buffer // 2:
                yield [pending.pop() for _ in range(min(size, len(pending)))]
    rng.shuffle(pending)
    for start in range(0, len(pending), size):
        yield pending[start : start + size]


def _mask(encoded, tokenizer, probability: float, generator):
    """BERT masking: of the chosen tokens 80 % become <mask>, 10 % a random token, 10 % stay; others are ignored."""
    import torch

    inputs = encoded["input_ids"].clone()
    labels = inputs.clone()
    special = (
        (inputs == tokenizer.pad_token_id) | (inputs == tokenizer.cls_token_id) | (inputs == tokenizer.sep_token_id)
    )
    chosen = (torch.rand(inputs.shape, generator=generator) < probability) & ~special
    labels[~chosen] = -100
    masked = chosen & (torch.rand(inputs.shape, generator=generator) < 0.8)
    inputs[masked] = tokenizer.mask_token_id
    randomized = chosen & ~masked & (torch.rand(inputs.shape, generator=generator) < 0.5)
    inputs[randomized] = torch.randint(len(tokenizer), inputs.shape, generator=generator)[randomized]
    return {"input_ids": inputs, "attention_mask": encoded["attention_mask"]}, labels


def _valid_loss(model, tokenizer, catalog, library, config: PretrainConfig, generator) -> float:
    import torch

    model.eval()
    losses, weights = [], []
    with torch.no_grad():
        for batch in _batches(catalog, library, 256, train=False, seed=0):
            inputs, labels = _mask(
                tokenizer(batch, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt"),
                tokenizer,
                config.mask_probability,
                generator,
            )
            if (labels != -100).any():
                losses.append(model(**inputs, labels=labels).loss.item())
                weights.append(len(batch))
    return float(sum(loss * n for loss, n in zip(losses, weights)) / sum(weights)) if weights else math.nan
