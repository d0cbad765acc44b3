"""Drift measures (pure): quantile bins, counts with a missing bin, PSI, binned KS, the retrain verdict."""

import math

import numpy as np
import pytest

from molpipe.monitor.drift import Measure, bin_counts, binned_ks, psi, quantile_edges, verdict


def test_quantile_bins_share_the_reference_evenly_and_count_missing_values_apart():
    reference = np.arange(1000, dtype=float)
    edges = quantile_edges(reference, 10)
    assert len(edges) == 9
    counts = bin_counts(reference, edges)
    assert len(counts) == 11 and counts[-1] == 0 and set(counts[:-1]) <= {99, 100, 101}
    assert bin_counts([1.0, None, float("nan"), 2000.0], edges).tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]


def test_repeated_values_give_fewer_bins_and_a_value_on_an_edge_goes_below_it():
    donors = np.array([0, 0, 0, 1, 1, 2, 2, 3, 5, 5], dtype=float)  # a count descriptor
    edges = quantile_edges(donors, 10)
    assert len(edges) < 9 and np.all(np.diff(edges) > 0)
    assert bin_counts([edges[0]], edges)[0] == 1  # searchsorted(side="left"): edges strictly below
    assert quantile_edges([np.nan, np.nan], 10).size == 0


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 20_000)
    edges = quantile_edges(reference, 10)
    expected = bin_counts(reference, edges)
    assert psi(expected, expected) == 0.0
    same = psi(expected, bin_counts(rng.normal(0, 1, 20_000), edges))
    small = psi(expected, bin_counts(rng.normal(0.25, 1, 20_000), edges))
    large = psi(expected, bin_counts(rng.normal(1.0, 1, 20_000), edges))
    assert same < 0.01 < small < 0.25 < large
    # the textbook value for a one-sigma shift of a normal on deciles is about 1.0
    assert large == pytest.approx(1.0, abs=0.15)
    assert math.isnan(psi(expected, np.zeros_like(expected)))


def test_psi_counts_a_descriptor_that_starts_failing():
    reference = np.linspace(0, 1, 1000)
    edges = quantile_edges(reference, 5)
    current = np.where(np.arange(1000) % 2 == 0, np.nan, np.linspace(0, 1, 1000))
    assert psi(bin_counts(reference, edges), bin_counts(current, edges)) > 1.0


def test_binned_ks_is_the_largest_gap_between_cumulative_shares():
    expected, actual = np.array([50, 50, 0, 0]), np.array([0, 50, 50, 0])  # last bin: missing values
    assert binned_ks(expected, actual) == pytest.approx(0.5)
    assert binned_ks(expected, expected) == 0.0


def test_verdict_retrains_past_a_threshold_and_says_why():
    stable = [Measure("psi", "MolWt", 0.05, 0.2), Measure("prediction_ks", "y", 0.9, None)]
    assert verdict(stable) == (False, [])
    drifted = stable + [
        Measure("psi", "TPSA", 0.31, 0.2),
        Measure("outside_ad_fraction", "ad<0.35", 0.8, 0.5),
        Measure("psi", "LogP", float("nan"), 0.2),
    ]
    retrain, reasons = verdict(drifted)
    assert retrain and reasons == ["psi(TPSA) 0.310 > 0.2", "80.0% of the run outside the applicability domain > 50%"]
