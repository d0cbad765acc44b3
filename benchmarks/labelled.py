"""What the model benchmarks (quality.py, peers.py) share: the labelled datasets, ingesting and featurizing one
once, training a molpipe model on a stored split, and mean +/- sd over seeds; one place, so both measure the same."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATASETS = ROOT.parent / "shared" / "datasets"

TOX21_LABELS = (
    "NR-AR",
    "NR-AR-LBD",
    "NR-AhR",
    "NR-Aromatase",
    "NR-ER",
    "NR-ER-LBD",
    "NR-PPAR-gamma",
    "SR-ARE",
    "SR-ATAD5",
    "SR-HSE",
    "SR-MMP",
    "SR-p53",
)
CASES = {
    "hiv": {
        "file": "hiv/hiv.csv.gz",
        "labels": ("HIV_active",),
        "kind": "classification",
        "metric": "roc_auc",
        "published": {
            "Chemprop D-MPNN": "0.776 +/- 0.007",
            "Chemprop v2 ensemble": "0.790",
            "MoleculeNet best (KernelSVM)": "0.792",
            "ChemBERTa-MLM-100M": "0.740",
        },
    },
    "esol": {
        "file": "esol/delaney-processed.csv",
        "labels": ("measured log solubility in mols per litre",),
        "kind": "regression",
        "metric": "rmse",
        "published": {"Chemprop D-MPNN (random split)": "0.555", "MoleculeNet GCN (scaffold)": "0.885"},
    },
    "tox21": {
        "file": "tox21/tox21.csv",
        "labels": TOX21_LABELS,
        "kind": "classification",
        "metric": "roc_auc",  # mean over the 12 tasks, each on its observed molecules
        "published": {},
    },
}
FEATURIZERS = "morgan,rdkit2d,graph"  # what fp-mlp, gnn and chemberta read


def prepared(catalog, *, engine, names, models, pretrained: str | None, epochs: int, home: Path):
    """Each dataset of ``names`` ingested and featurized, with ChemBERTa's weights for it: ``(name, case,
    pretrained)``, what every benchmark on these datasets starts its trainings from."""
    for name in names:
        _prepare(catalog, engine=engine, name=name)
        weights = _pretrained_for(catalog, name=name, models=models, pretrained=pretrained, epochs=epochs, home=home)
        yield name, CASES[name], weights


def _prepare(catalog, *, engine, name: str) -> None:
    """Ingest and featurize the dataset's whole file; both are idempotent, so a kept ``--home`` skips them."""
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest

    case = CASES[name]
    started = time.monotonic()
    ingest(catalog, path=DATASETS / case["file"], library=name, label_cols=list(case["labels"]))
    featurize(catalog, library=name, featurizers=parse_featurizers(FEATURIZERS), workers=engine.udf_workers)
    print(f"{name}: ingested and featurized ({time.monotonic() - started:.0f} s)", flush=True)


def _pretrained_for(catalog, *, name: str, models, pretrained: str | None, epochs: int, home: Path) -> str | None:
    """ChemBERTa's weights: ``pretrained`` when given, else an MLM pretraining on the dataset's own SMILES (no
    pretrained ChemBERTa can be downloaded here); None when no chemberta model is asked for."""
    if "chemberta" not in models or pretrained:
        return pretrained
    from molpipe.train.pretrain import PretrainConfig, pretrain

    return pretrain(
        catalog, library=name, config=PretrainConfig(epochs=epochs), out=str(home / f"pretrained-{name}")
    ).out


def train_molpipe(
    catalog,
    *,
    name: str,
    model: str,
    seed: int,
    split_id: str,
    pretrained: str | None = None,
    num_processes: int = 2,
    **config,
):
    """One molpipe training on a stored split; ``config`` overrides TrainConfig's defaults. Returns (summary,
    wall seconds)."""
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    case = CASES[name]
    params = {"pretrained": pretrained} if model == "chemberta" else {}
    request = TrainRequest(
        name,
        f"{name}_{model}".replace("-", "_"),
        case["labels"],
        task_kind=case["kind"],
        split_id=split_id,
        num_processes=num_processes,
    )
    started = time.monotonic()
    summary = train(catalog, request, TrainConfig(model=model, model_params=params, seed=seed, **config))
    return summary, time.monotonic() - started


def spread(values) -> tuple[float, float]:
    """Mean and sample sd (0 for one value)."""
    values = list(values)
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
