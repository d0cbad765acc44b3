"""Named RDKit 2D descriptors of a set of molecules as Spark columns: read from the stored ``rdkit2d`` features,
computed from the SMILES for molecules that lack them (a library featurized without ``rdkit2d``, or a few molecules
whose features were never written). Used by drift monitoring and the exploration notebook."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molpipe.lake.tables import Catalog


def descriptor_frame(catalog: Catalog, library: str, rows, names: list[str]):
    """``rows`` (``inchikey``, ``smiles``) with one double column per descriptor: from the stored ``rdkit2d``
    features of ``library``, computed from the SMILES where a molecule lacks them."""
    from pyspark.sql import functions as F

    from molpipe.featurize import parse_featurizers

    featurizer = parse_featurizers("rdkit2d")[0]
    unknown = [n for n in names if n not in featurizer.feature_names]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not RDKit 2D descriptors (their names are in featurizer_specs.feature_names)"
        )
    positions = [featurizer.feature_names.index(n) for n in names]
    stored = (
        catalog.read("features")
        .where((F.col("library") == library) & (F.col("spec") == featurizer.spec))
        .select("inchikey", *[F.col("values")[i].cast("double").alias(n) for i, n in zip(positions, names)])
    )
    joined = rows.select("inchikey", "smiles").join(stored, "inchikey", "left")
    schema = joined.schema

    def fill(frames):
        for frame in frames:
            yield fill_missing_descriptors(frame, names, featurizer, positions)

    return joined.mapInPandas(fill, schema)


def fill_missing_descriptors(frame: pd.DataFrame, names: list[str], featurizer, positions: list[int]) -> pd.DataFrame:
    """Rows whose descriptors were not stored (all null) get them computed from their SMILES (NaN if it fails)."""
    from rdkit import Chem

    missing = frame[names].isna().all(axis=1)
    for i in np.flatnonzero(missing.to_numpy()):
        mol = Chem.MolFromSmiles(frame["smiles"].iat[i] or "")
        values = featurizer.compute(mol)[positions] if mol is not None else np.full(len(names), np.nan)
        frame.iloc[i, [frame.columns.get_loc(n) for n in names]] = values.astype(float)
    return frame
