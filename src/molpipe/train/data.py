"""Training data: pinned Delta versions -> Parquet shards -> per-rank streams of molecules.

:func:`materialize` (Spark) reads ``splits``, ``molecules`` and ``features`` at the Delta versions current when
training starts (recorded as lineage), joins labels and the model's features, and writes each split as
``num_shards`` Parquet files under the run's data folder. :class:`Shard` (pyarrow, no Spark) streams a rank's
files in batches through a shuffle buffer, so a rank never holds more than the buffer, whatever the library size.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq

from molpipe.featurize import Featurizer
from molpipe.featurize.domain import TrainingIndex, on_bits
from molpipe.featurize.read import join_features, row_features
from molpipe.lake.tables import Catalog
from molpipe.models.tasks import Task, infer_kind
from molpipe.split.read import SPLITS

LINEAGE_TABLES = ("molecules", "features", "splits")


@dataclass
class Materialized:
    root: str
    task: Task
    split_id: str
    versions: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)

    def files(self, split: str) -> list[str]:
        return split_files(self.root, split)


def split_files(root: str | Path, split: str) -> list[str]:
    """A materialized split's Parquet files (``<root>/<split>/*.parquet``), in name order."""
    return sorted(str(p) for p in Path(root, split).glob("*.parquet"))


def training_domain(root: str | Path) -> TrainingIndex:
    """The fingerprint index of a materialized split's train molecules (:mod:`molpipe.featurize.domain`)."""
    return TrainingIndex.from_smiles(_column(root, "train", "smiles"))


def held_out_similarity(root: str | Path, split: str, inchikeys: Sequence[str], domain: TrainingIndex) -> np.ndarray:
    """Each of ``inchikeys`` (molecules of ``split`` under ``root``, in prediction order): its highest Tanimoto
    similarity to ``domain``'s molecules."""
    smiles = dict(zip(_column(root, split, "inchikey"), _column(root, split, "smiles")))
    return domain.max_similarity([on_bits(smiles[key]) for key in inchikeys])


def _column(root: str | Path, split: str, name: str) -> list:
    return [v for f in split_files(root, split) for v in pq.read_table(f, columns=[name]).column(0).to_pylist()]


def resolve_task(catalog: Catalog, library: str, labels: Sequence[str] | None, kind: str | None) -> Task:
    """Labels default to every label of the library; the kind is inferred from the values when not given."""
    from pyspark.sql import functions as F

    molecules = catalog.read("molecules").where(F.col("library") == library)
    present = sorted(
        r["label"] for r in molecules.select(F.explode(F.map_keys("labels")).alias("label")).distinct().collect()
    )
    if not present:
        raise ValueError(f"library {library!r} has no labeled molecules to train on")
    chosen = list(labels) if labels else present
    missing = [label for label in chosen if label not in present]
    if missing:
        raise ValueError(f"library {library!r} has no label(s) {', '.join(missing)}; its labels: {', '.join(present)}")
    if kind is None:
        values = molecules.select(F.explode(F.map_values("labels")).alias("v")).limit(100_000).toPandas()["v"]
        kind = infer_kind(values.to_numpy(dtype=float))
    return Task(tuple(chosen), kind)


def materialize(
    catalog: Catalog,
    library: str,
    task: Task,
    featurizers: Sequence[Featurizer],
    split_id: str,
    root: Path,
    num_shards: int,
) -> Materialized:
    from pyspark.sql import functions as F

    versions = {name: catalog.version(name) for name in LINEAGE_TABLES}
    table = {
        name: catalog.read_version(name, versions[name]).where(F.col("library") == library) for name in LINEAGE_TABLES
    }
    y = F.array(*[F.coalesce(F.col("labels")[label], F.lit(float("nan"))) for label in task.labels]).alias("y")
    # at least one of the task's labels observed (missing labels are absent keys); no lambdas: Sail 0.7
    # cannot resolve columns inside higher-order functions such as exists()
    observed = functools.reduce(lambda a, b: a | b, [F.col("labels")[label].isNotNull() for label in task.labels])
    rows = (
        table["splits"]
        .where((F.col("split_id") == split_id) & F.col("split").isin(*SPLITS))
        .select("inchikey", "split", "scaffold")  # scaffold: what calibration folds group by (train.folds)
        .join(table["molecules"].where(observed).select("inchikey", "smiles", y), "inchikey")
    )
    rows = join_features(rows, table["features"], featurizers)
    result = Materialized(str(root), task, split_id, versions)
    for split in SPLITS:
        part = rows.where(F.col("split") == split).drop("split")
        part.repartition(num_shards).write.mode("overwrite").parquet(str(root / split))
        result.counts[split] = sum(pq.ParquetFile(f).metadata.num_rows for f in result.files(split))
    if result.counts["train"] == 0:
        raise ValueError(
            f"split {split_id!r} of {library!r} has no training molecules with the features "
            + ", ".join(f.spec for f in featurizers)
            + f": run `molpipe featurize --library {library} --featurizers …`"
        )
    return result


class Shard:
    """A rank's Parquet files, streamed."""

    def __init__(self, files: Sequence[str], featurizers: Sequence[Featurizer]):
        self.files = list(files)
        self.featurizers = list(featurizers)

    def __len__(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def rows(self, read_batch: int = 2048) -> Iterator[dict]:
        for path in self.files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=read_batch):
                yield from batch.to_pylist()

    def batches(
        self, batch_size: int, seed: int | None = None, buffer: int = 20_000
    ) -> Iterator[tuple[list, list, np.ndarray]]:
        """(inchikeys, feature dicts, targets [batch, n_tasks]); shuffled through a buffer when ``seed`` is set."""
        rng = random.Random(seed)
        pending: list[dict] = []

        def emit(rows: list[dict]):
            return (
                [r["inchikey"] for r in rows],
                [row_features(r, self.featurizers) for r in rows],
                np.array([r["y"] for r in rows], dtype=np.float32),
            )

        out: list[dict] = []
        for row in self.rows():
            if seed is None:
                out.append(row)
            else:
                pending.append(row)
                if len(pending) < buffer:
                    continue
                index = rng.randrange(len(pending))
                pending[index], pending[-1] = pending[-1], pending[index]
                out.append(pending.pop())
            if len(out) == batch_size:
                yield emit(out)
                out = []
        rng.shuffle(pending)
        for row in pending:
            out.append(row)
            if len(out) == batch_size:
                yield emit(out)
                out = []
        if out:
            yield emit(out)

    def sample(self, n: int) -> list[dict]:
        features = []
        for row in self.rows():
            features.append(row_features(row, self.featurizers))
            if len(features) >= n:
                break
        return features
