"""Losses, metrics, the SMILES tokenizer and the model registry, without Spark."""

import math

import numpy as np
import pytest
import torch

from molpipe.models import available_models, get_model
from molpipe.models.smiles_tokenizer import build_tokenizer, smiles_tokens
from molpipe.models.tasks import infer_kind, masked_loss, metrics


def test_missing_labels_do_not_contribute_to_the_loss():
    logits = torch.tensor([[0.0, 5.0], [0.0, -5.0]])
    targets = torch.tensor([[1.0, float("nan")], [0.0, float("nan")]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros(2), torch.tensor([1.0, 0.0]))
    assert masked_loss(logits, targets, "classification").item() == pytest.approx(expected.item())
    assert masked_loss(logits, torch.full((2, 2), float("nan")), "classification").item() == 0.0


def test_metrics_per_label_on_observed_rows():
    y = np.array([[1, 0], [0, np.nan], [1, 1], [0, 0]], dtype=float)
    p = np.array([[0.9, 0.2], [0.1, 0.5], [0.8, 0.7], [0.3, 0.4]])
    result = metrics(p, y, "classification")
    assert result["roc_auc"] == pytest.approx(1.0) and result["pr_auc"] == pytest.approx(1.0)
    regression = metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]), "regression")
    assert regression["rmse"] == pytest.approx(math.sqrt(1 / 3)) and regression["mae"] == pytest.approx(1 / 3)


def test_task_kind_from_values():
    assert infer_kind(np.array([0.0, 1.0, np.nan])) == "classification"
    # HIV: 528 duplicates, a few measured both active and inactive -> averaged to 0.5: still classification
    assert infer_kind(np.array([0.0] * 60 + [1.0] * 39 + [0.5])) == "classification"
    assert infer_kind(np.array([-0.77, -3.3])) == "regression"
    assert infer_kind(np.array([0.2, 0.35, 0.5, 1.0])) == "regression"  # a fraction, not a class


def test_soft_labels_count_by_majority_in_metrics_and_plots(tmp_path):
    from molpipe.models.tasks import Task
    from molpipe.train.plots import write_plots

    predictions, targets = np.array([[0.9], [0.8], [0.1], [0.2]]), np.array([[1.0], [0.5], [0.0], [0.0]])
    assert metrics(predictions, targets, "classification")["roc_auc"] == pytest.approx(1.0)
    history = [
        {"epoch": 0, "train_loss": 0.7, "valid_roc_auc": 0.6},
        {"epoch": 1, "train_loss": 0.5, "valid_roc_auc": 0.7},
    ]
    paths = write_plots(
        tmp_path, history, {"predictions": predictions, "targets": targets}, Task(("HIV_active",), "classification")
    )
    assert [p.name for p in paths] == ["learning_curves.png", "roc_pr_test.png"] and all(
        p.stat().st_size > 1000 for p in paths
    )


def test_smiles_tokenizer_is_atom_level_and_round_trips():
    assert smiles_tokens("C[C@@H](Cl)c1ccc(Br)cc1") == [
        "C",
        "[C@@H]",
        "(",
        "Cl",
        ")",
        "c",
        "1",
        "c",
        "c",
        "c",
        "(",
        "Br",
        ")",
        "c",
        "c",
        "1",
    ]
    tokenizer = build_tokenizer(["CCO", "c1ccccc1Cl", "C[C@@H](Cl)Br"])
    ids = tokenizer("CCCl")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>", "C", "C", "Cl", "</s>"]
    assert tokenizer.convert_ids_to_tokens(tokenizer("CI")["input_ids"])[2] == "<unk>"  # iodine never seen


def test_model_registry():
    assert available_models() == ["chemberta", "fp-mlp", "gnn"]
    assert get_model("gnn", hidden=64).featurizer_specs == ["graph", "rdkit2d"]
    with pytest.raises(ValueError, match="unknown model 'transformer'"):
        get_model("transformer")
    with pytest.raises(ValueError, match="has no parameter"):
        get_model("fp-mlp", width=3)
    with pytest.raises(ValueError, match="chemberta needs pretrained weights"):
        get_model("chemberta").fit([])


def test_the_default_model_follows_the_task_kind():
    """What the figures against Chemprop chose (docs/performance.md): fp-mlp for both task kinds; a model that was
    named stays."""
    from molpipe.train.loop import TrainConfig

    assert TrainConfig().for_task("classification").model == "fp-mlp"
    assert TrainConfig(epochs=2).for_task("regression") == TrainConfig(model="fp-mlp", epochs=2)
    assert TrainConfig(model="chemberta").for_task("regression").model == "chemberta"
