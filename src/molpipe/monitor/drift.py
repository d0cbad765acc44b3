"""Drift measures, pure numpy: bins from a reference distribution, counts, population stability index, binned KS.

Bins are quantiles of the reference (so each holds about the same share of it), and a value falls into bin ``i``
when exactly ``i`` edges lie strictly below it: ``numpy.searchsorted(edges, v, side="left")``, which the Spark side
(:mod:`molpipe.monitor.job`) computes as ``sum(v > edge)``, so both sides bin alike. Missing values (None, NaN)
count in a bin of their own, the last, so a descriptor that starts failing is drift too.

The population stability index of reference shares ``e`` and current shares ``a`` is ``sum((a - e) * ln(a / e))``;
empty bins are floored at ``FLOOR`` so the logarithm stays finite. The usual reading: below 0.1 stable, 0.1-0.25 a
moderate shift, above 0.25 a major one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOOR = 1e-4  # share given to an empty bin


def quantile_edges(values, bins: int) -> np.ndarray:
    """Inner edges of ``bins`` quantile bins of the finite ``values`` (fewer where values repeat)."""
    finite = _as_array(values)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or bins < 2:
        return np.zeros(0)
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def bin_counts(values, edges: np.ndarray) -> np.ndarray:
    """Counts per bin: ``len(edges) + 1`` value bins, then one for missing values."""
    array = _as_array(values)
    missing = ~np.isfinite(array)
    index = np.searchsorted(edges, array[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.int64)
    return np.append(counts, int(missing.sum()))


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of ``actual`` counts against ``expected`` counts (same bins)."""
    if expected.sum() == 0 or actual.sum() == 0:
        return float("nan")
    e, a = np.maximum(shares(expected), FLOOR), np.maximum(shares(actual), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def binned_ks(expected: np.ndarray, actual: np.ndarray) -> float:
    """Largest gap between the two cumulative distributions at the bin edges (missing values left out)."""
    e, a = shares(expected[:-1]), shares(actual[:-1])
    return float(np.max(np.abs(np.cumsum(e) - np.cumsum(a)))) if len(e) else float("nan")


def _as_array(values) -> np.ndarray:
    return (
        np.array([np.nan if v is None else v for v in values], dtype=float)
        if isinstance(values, list)
        else (np.asarray(values, dtype=float))
    )


@dataclass
class Measure:
    """One drift measure of one scoring run: a row of the ``monitoring`` table."""

    metric: str  # psi, prediction_psi, prediction_ks, prediction_mean_shift, outside_ad_fraction
    feature: str  # the descriptor, the label, or what the fraction counts
    value: float
    threshold: float | None = None  # None: reported, never a reason to retrain
    n_reference: int = 0
    n_current: int = 0
    reference: list[int] = field(default_factory=list)  # bin counts, for the report
    current: list[int] = field(default_factory=list)
    edges: list[float] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return self.threshold is not None and bool(np.isfinite(self.value)) and self.value > self.threshold


def verdict(measures: list[Measure]) -> tuple[bool, list[str]]:
    """Retrain when any measure with a threshold is past it; the reasons say which and by how much."""
    reasons = [
        f"{m.metric}({m.feature}) {m.value:.3f} > {m.threshold:g}"
        if m.metric != "outside_ad_fraction"
        else f"{m.value:.1%} of the run outside the applicability domain > {m.threshold:.0%}"
        for m in measures
        if m.drifted
    ]
    return bool(reasons), reasons
