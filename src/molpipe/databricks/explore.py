"""Looking at a library and at scored candidates: tables (pandas) and figures (matplotlib) for the notebooks.

Aggregations run in Spark; only summaries and bounded samples (the first N molecules in InChIKey order, a fixed
pseudo-random sample since InChIKeys are hashes) reach the driver.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from molpipe.featurize.descriptors import descriptor_frame
from molpipe.lake.tables import Catalog

PROPERTIES = ("MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds", "RingCount", "qed")


def library_summary(catalog: Catalog, library: str) -> pd.DataFrame:
    """One row per fact: molecules, scaffolds, input rows, quarantined rows, and per label how many molecules have
    it and its mean."""
    from pyspark.sql import functions as F

    molecules = catalog.read("molecules").where(F.col("library") == library)
    counts = molecules.agg(F.count("*").alias("molecules"), F.countDistinct("scaffold").alias("scaffolds")).first()
    rows = [("molecules", counts["molecules"]), ("scaffolds", counts["scaffolds"])]
    loads = catalog.read("loads").where(F.col("library") == library).agg(F.sum("rows_read")).first()[0]
    rows.append(("input rows", int(loads or 0)))
    rows.append(("quarantined rows", catalog.read("quarantine").where(F.col("library") == library).count()))
    labels = (
        molecules.select(F.explode("labels").alias("label", "value"))
        .groupBy("label")
        .agg(F.count("value").alias("n"), F.avg("value").alias("mean"))
        .orderBy("label")
        .collect()
    )
    for row in labels:
        rows.append((f"labeled: {row['label']}", row["n"]))
        rows.append((f"mean: {row['label']}", round(row["mean"], 4)))
    return pd.DataFrame(rows, columns=["what", "value"])


def property_sample(catalog: Catalog, library: str, names=PROPERTIES, label: str | None = None, limit: int = 20_000):
    """Up to ``limit`` molecules of the library with their descriptors (and ``label``'s value, if given)."""
    from pyspark.sql import functions as F

    molecules = catalog.read("molecules").where(F.col("library") == library).orderBy("inchikey").limit(limit)
    frame = descriptor_frame(catalog, library, molecules.select("inchikey", "smiles"), list(names))
    if label:
        values = molecules.select("inchikey", F.col("labels")[label].alias(label))
        frame = frame.join(values, "inchikey", "left")
    return frame.toPandas()


def property_figure(frame: pd.DataFrame, names=PROPERTIES, label: str | None = None):
    """A histogram per descriptor; split into actives and inactives when ``label`` is a 0/1 label."""
    plt = _pyplot()
    columns = 4
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    binary = label is not None and label in frame and set(frame[label].dropna().unique()) <= {0.0, 1.0}
    for ax, name in zip(axes.ravel(), names):
        values = frame[name].to_numpy(dtype=float)
        finite = np.isfinite(values)
        bins = np.histogram_bin_edges(values[finite], bins=30) if finite.any() else 10
        if binary:
            for value, colour, what in ((0.0, "tab:blue", "inactive"), (1.0, "tab:red", "active")):
                subset = values[finite & (frame[label].to_numpy() == value)]
                ax.hist(subset, bins=bins, density=True, alpha=0.55, color=colour, label=f"{what} ({len(subset)})")
            ax.legend(fontsize=7)
        else:
            ax.hist(values[finite], bins=bins, color="tab:blue")
        ax.set_title(f"{name} (median {np.nanmedian(values):.3g})" if finite.any() else name, fontsize=9)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def top_scaffolds(catalog: Catalog, library: str, n: int = 20, label: str | None = None) -> pd.DataFrame:
    """The ``n`` most frequent Bemis-Murcko scaffolds, with how many molecules have a label and its mean."""
    from pyspark.sql import functions as F

    molecules = catalog.read("molecules").where(F.col("library") == library)
    aggregates = [F.count("*").alias("molecules")]
    if label:
        aggregates += [
            F.count(F.col("labels")[label]).alias("labeled"),
            F.avg(F.col("labels")[label]).alias(f"mean_{label}"),
        ]
    top = (
        molecules.withColumn("scaffold", F.when(F.col("scaffold") == "", "(acyclic)").otherwise(F.col("scaffold")))
        .groupBy("scaffold")
        .agg(*aggregates)
        .orderBy(F.desc("molecules"), "scaffold")
        .limit(n)
        .toPandas()
    )
    top.insert(2, "share", (top["molecules"] / max(molecules.count(), 1)).round(4))
    return top


def scaffold_grid(top: pd.DataFrame, n: int = 12):
    """The top scaffolds drawn in a grid (a PIL image), each captioned with its molecule count."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    rows = [r for r in top.head(n).itertuples() if r.scaffold != "(acyclic)"]
    mols = [Chem.MolFromSmiles(r.scaffold) for r in rows]
    legends = [f"{r.molecules} molecules" for r in rows]
    return Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(220, 180), legends=legends)


def candidate_figure(frame: pd.DataFrame, ad_threshold: float = 0.35):
    """A scoring run at a glance: prediction against uncertainty coloured by applicability-domain similarity (the
    top ranks outlined), and the acquisition scores."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    uncertainty = frame["uncertainty"].fillna(0.0)
    points = left.scatter(
        frame["prediction"], uncertainty, c=frame["ad_similarity"], cmap="viridis", s=14, vmin=0, vmax=1
    )
    top = frame.nsmallest(min(10, len(frame)), "rank")
    left.scatter(
        top["prediction"],
        top["uncertainty"].fillna(0.0),
        s=60,
        facecolors="none",
        edgecolors="tab:red",
        label="top 10 ranks",
    )
    left.set_xlabel("prediction")
    left.set_ylabel("uncertainty")
    left.legend(fontsize=8)
    fig.colorbar(points, ax=left, label="max Tanimoto to training set")
    inside = frame["ad_similarity"] >= ad_threshold
    bins = np.histogram_bin_edges(frame["acquisition_score"].dropna(), bins=30)
    right.hist(frame.loc[inside, "acquisition_score"], bins=bins, alpha=0.7, label=f"in domain ({inside.sum()})")
    right.hist(frame.loc[~inside, "acquisition_score"], bins=bins, alpha=0.7, label=f"outside ({(~inside).sum()})")
    right.set_xlabel("acquisition score")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _pyplot() -> Any:
    import matplotlib.pyplot as plt  # the notebook's backend (inline on Databricks; Agg headless)

    return plt
