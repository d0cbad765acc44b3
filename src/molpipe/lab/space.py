"""A 2-D map of chemical space for the lab report: PCA of Morgan fingerprints.

The axes are fitted on the reference molecules (the training and pool samples) and the picks are projected into
them, so a pick's place says where it sits among what the model learned from and what it chose from. numpy's SVD
of the centered bit matrix, with each axis' sign fixed, so the same molecules always give the same map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from molpipe.featurize.domain import N_BITS, on_bits


@dataclass(frozen=True)
class Projection:
    """Two principal axes of a fingerprint matrix and the share of its variance each explains."""

    mean: np.ndarray  # (N_BITS,)
    axes: np.ndarray  # (2, N_BITS)
    explained: tuple[float, float]  # fraction of the total variance, per axis

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        """The (n, 2) coordinates of fingerprint rows."""
        return (matrix - self.mean) @ self.axes.T


def bit_matrix(smiles: Sequence[str]) -> np.ndarray:
    """Rows of 0/1 Morgan bits (:func:`molpipe.featurize.domain.on_bits`); an unparsable SMILES is a row of zeros."""
    matrix = np.zeros((len(smiles), N_BITS), dtype=np.float32)
    for row, text in enumerate(smiles):
        matrix[row, on_bits(text)] = 1.0
    return matrix


def fit(matrix: np.ndarray) -> Projection:
    """The first two principal axes of ``matrix``; zero axes where it has fewer than two directions of variance."""
    axes, explained = np.zeros((2, matrix.shape[1])), np.zeros(2)
    if not len(matrix):
        return Projection(np.zeros(matrix.shape[1]), axes, (0.0, 0.0))
    mean = matrix.mean(axis=0)
    centered = matrix - mean
    _, singular, vt = np.linalg.svd(centered, full_matrices=False)
    found = min(2, len(singular))
    axes[:found] = vt[:found]
    # an axis' sign is arbitrary: make its largest loading positive
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes *= np.where(signs == 0, 1.0, signs)[:, None]
    total = float(np.square(centered, dtype=np.float64).sum())
    if total > 0:
        explained[:found] = np.square(singular[:found], dtype=np.float64) / total
    return Projection(mean, axes, (float(explained[0]), float(explained[1])))


def chemical_space(
    *, reference: Sequence[str], picks: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Coordinates of ``reference`` and ``picks`` on the reference's first two principal axes, and their explained
    variance; the picks define the axes only when there is no reference."""
    reference_bits, pick_bits = bit_matrix(reference), bit_matrix(picks)
    projection = fit(reference_bits if len(reference_bits) else pick_bits)
    return projection.apply(reference_bits), projection.apply(pick_bits), projection.explained
