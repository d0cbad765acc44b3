"""Reading featurize's tables back: whether a library has molecules at all, one column per featurizer spec of
``features`` joined onto rows of molecules (training, scoring, monitoring), and a row of those columns as the
feature dict models collate."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from molpipe.featurize.graph import from_flat
from molpipe.featurize.registry import Featurizer


def check_featurized(catalog, library: str) -> None:
    """A stage that works on a library's molecules fails here, saying what to run, when it has none (a typo in
    the name, or a library never featurized), rather than doing nothing without a word."""
    from pyspark.sql import functions as F

    if catalog.read("molecules").where(F.col("library") == library).limit(1).count() == 0:
        raise ValueError(f"library {library!r} has no molecules: run `molpipe featurize --library {library}` first")


def join_features(rows, features, featurizers: Sequence[Featurizer], how: str = "inner"):
    """``rows`` (with ``inchikey``) + one column per featurizer spec (graphs: ``graph_x``, ``graph_edge_index``,
    ``graph_edge_attr``) from the long ``features`` table; ``how="left"`` keeps molecules lacking a spec."""
    from pyspark.sql import functions as F

    for featurizer in featurizers:
        spec = features.where(F.col("spec") == featurizer.spec)
        if featurizer.kind == "graph":
            columns = [
                F.col("values").alias("graph_x"),
                F.col("edge_index").alias("graph_edge_index"),
                F.col("edge_attr").alias("graph_edge_attr"),
            ]
        else:
            columns = [F.col("values").alias(featurizer.name)]
        rows = rows.join(spec.select("inchikey", *columns), "inchikey", how)
    return rows


def row_features(row: dict, featurizers: Sequence[Featurizer]) -> dict:
    """One materialized row -> the per-molecule feature dict models collate (a featurizer whose columns are
    null is left out, for :meth:`molpipe.models.predictor.Predictor.complete` to compute)."""
    features = {"smiles": row["smiles"]}
    for featurizer in featurizers:
        if featurizer.kind == "graph":
            if row.get("graph_x") is not None:
                features[featurizer.name] = from_flat(row["graph_x"], row["graph_edge_index"], row["graph_edge_attr"])
        elif row.get(featurizer.name) is not None:
            features[featurizer.name] = np.asarray(row[featurizer.name], dtype=np.float32)
    return features
