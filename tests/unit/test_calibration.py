"""Split-conformal intervals and temperature scaling (molpipe.models.calibration) on draws whose truth is known:
the coverage a conformal interval promises, and an over-confident classifier brought back to honest probabilities."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from molpipe.models.calibration import Calibration, expected_calibration_error, quality
from molpipe.models.tasks import Task

REGRESSION, CLASSIFICATION = Task(("y",), "regression"), Task(("active",), "classification")


def noisy(rng, n, heteroscedastic=False):
    """Predictions, targets and the spread an ensemble would give: errors ~ N(0, spread)."""
    predictions = rng.normal(size=(n, 1))
    spread = rng.uniform(0.2, 2.0, size=(n, 1)) if heteroscedastic else np.ones((n, 1))
    return predictions, predictions + rng.normal(size=(n, 1)) * spread, spread


@pytest.mark.parametrize("normalized", [False, True])
def test_conformal_intervals_hold_their_coverage_on_new_draws(normalized):
    """The guarantee is on average over validation splits: 40 splits of 400 molecules, each tried on 2,000 new."""
    for coverage in (0.8, 0.9, 0.95):
        held, widths = [], []
        for seed in range(40):
            rng = np.random.default_rng(seed)
            predictions, targets, spread = noisy(rng, 400, heteroscedastic=True)
            calibration = Calibration.fit(
                predictions=predictions, targets=targets, spread=spread if normalized else None, task=REGRESSION
            )
            assert calibration.normalized == normalized and calibration.counts == (400,)
            p, y, s = noisy(rng, 2000, heteroscedastic=True)
            measured = quality(predictions=p, targets=y, spread=s, calibration=calibration, coverage=coverage)
            held.append(measured["coverage"])
            widths.append(measured["interval_width"])
        assert coverage - 0.01 <= np.mean(held) <= coverage + 0.02, (coverage, np.mean(held))
        if coverage == 0.9:  # errors that follow the spread: dividing by it gives narrower intervals on average
            assert np.mean(widths) < (3.9 if normalized else 4.3), np.mean(widths)


def test_thinned_scores_never_narrow_the_interval():
    rng = np.random.default_rng(1)
    predictions, targets, _ = noisy(rng, 20_000)
    thinned = Calibration.fit(predictions=predictions, targets=targets, spread=None, task=REGRESSION)
    assert len(thinned.scores[0]) == 2001 and thinned.counts == (20_000,)
    exact = np.sort(np.abs(targets - predictions)[:, 0])
    for coverage in (0.5, 0.9, 0.99):
        half = thinned.interval(np.zeros((1, 1)), np.ones((1, 1)), coverage)[1][0, 0]
        wanted = exact[math.ceil((20_000 + 1) * coverage) - 1]
        assert wanted <= half <= wanted * 1.01


def test_too_few_validation_molecules_give_an_unbounded_interval_and_missing_labels_are_skipped():
    targets = np.array([[0.1], [np.nan], [0.3]])
    calibration = Calibration.fit(predictions=np.zeros((3, 1)), targets=targets, spread=None, task=REGRESSION)
    assert calibration.counts == (2,)
    lower, upper = calibration.interval(np.zeros((1, 1)), np.ones((1, 1)), 0.9)  # rank ceil(3 * 0.9) = 3 > 2
    assert math.isinf(upper[0, 0]) and math.isinf(lower[0, 0])
    with pytest.raises(ValueError, match="coverage 1.0 must lie strictly between 0 and 1"):
        calibration.interval(np.zeros((1, 1)), np.ones((1, 1)), 1.0)


def test_temperature_brings_an_over_confident_classifier_back():
    rng = np.random.default_rng(2)

    def draws(n):
        logits = rng.normal(scale=2.0, size=(n, 1))
        truth = (rng.uniform(size=(n, 1)) < 1 / (1 + np.exp(-logits))).astype(float)
        return 1 / (1 + np.exp(-3.0 * logits)), truth  # the model's logits are three times too large

    predictions, targets = draws(3000)
    calibration = Calibration.fit(predictions=predictions, targets=targets, spread=None, task=CLASSIFICATION)
    assert calibration.temperatures[0] == pytest.approx(3.0, rel=0.15)
    test_p, test_y = draws(3000)
    calibrated = calibration.probabilities(test_p)
    assert roc_auc_score(test_y[:, 0], calibrated[:, 0]) == pytest.approx(roc_auc_score(test_y[:, 0], test_p[:, 0]))
    before = expected_calibration_error(test_p[:, 0], test_y[:, 0])
    after = expected_calibration_error(calibrated[:, 0], test_y[:, 0])
    assert after < 0.03 < before
    measured = quality(
        predictions=calibrated, targets=test_y, spread=None, calibration=calibration, coverage=0.9, uncalibrated=test_p
    )
    assert set(measured) == {"ece", "ece_uncalibrated", "coverage", "set_size"}
    assert (measured["ece"], measured["ece_uncalibrated"]) == (pytest.approx(after), pytest.approx(before))
    lower, upper = calibration.interval(calibrated, np.ones_like(calibrated), 0.9)
    assert np.isnan(lower).all() and np.isnan(upper).all()  # no interval for a probability


def test_a_label_with_one_class_keeps_its_probabilities(tmp_path):
    targets = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 1.0], [np.nan, 0.0]])
    predictions = np.array([[0.2, 0.9], [0.1, 0.2], [0.3, 0.7], [0.5, 0.4]])
    calibration = Calibration.fit(
        predictions=predictions, targets=targets, spread=None, task=Task(("a", "b"), "classification")
    )
    assert calibration.temperatures[0] == 1.0 and calibration.temperatures[1] != 1.0
    calibration.write(tmp_path)
    assert Calibration.read(tmp_path) == calibration and Calibration.read(tmp_path / "none") is None


def test_class_conditional_sets_cover_the_rare_actives_too():
    """HIV-like: 3.5 % actives. Over 40 validation splits of 2,000, each tried on 5,000 new molecules, the sets at 0.9
    hold the truth for 90 % of the actives and of the inactives, where a marginal 90 % could ignore every active."""

    def draws(rng, n):
        active = rng.uniform(size=n) < 0.035
        logits = rng.normal(loc=np.where(active, 1.5, -1.5), scale=1.0) - 1.5
        return 1 / (1 + np.exp(-logits))[:, None], active.astype(float)[:, None]

    per_class, sizes = {0: [], 1: []}, []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        calibration = Calibration.fit(
            *(), predictions=(v := draws(rng, 2000))[0], targets=v[1], spread=None, task=CLASSIFICATION
        )
        p, y = draws(rng, 5000)
        inactive, active = calibration.prediction_sets(calibration.probabilities(p), 0.9)
        per_class[1].append(active[y == 1].mean())
        per_class[0].append(inactive[y == 0].mean())
        measured = quality(
            predictions=calibration.probabilities(p), targets=y, spread=None, calibration=calibration, coverage=0.9
        )
        sizes.append(measured["set_size"])
        assert measured["coverage"] == pytest.approx(np.where(y == 1, active, inactive).mean())
    for label in (0, 1):
        assert 0.89 <= np.mean(per_class[label]) <= 0.93, (label, np.mean(per_class[label]))
    assert 0.8 < np.mean(sizes) < 1.2  # mostly one class: "either" (2) and "neither" (0) are the exceptions


def test_a_class_too_rare_for_the_coverage_is_in_every_set_and_old_files_read_without_sets(tmp_path):
    rng = np.random.default_rng(3)
    predictions = np.vstack([rng.uniform(0.0, 0.4, size=(12, 1)), [[0.8]]])
    targets = np.vstack([np.zeros((12, 1)), [[1.0]]])  # one active: rank ceil(2 * 0.9) = 2 > 1
    calibration = Calibration.fit(predictions=predictions, targets=targets, spread=None, task=CLASSIFICATION)
    assert calibration.class_counts == ((12, 1),)
    inactive, active = calibration.prediction_sets(calibration.probabilities(np.array([[1e-4], [0.99]])), 0.9)
    assert active.all() and inactive.tolist() == [[True], [False]]
    calibration.write(tmp_path)
    raw = (tmp_path / "calibration.json").read_text()
    (tmp_path / "calibration.json").write_text(raw.split(', "class_scores"')[0] + "}")
    old = Calibration.read(tmp_path)
    assert old.temperatures == calibration.temperatures and old.prediction_sets(np.array([[0.5]]), 0.9) is None


def far_and_near(rng, n):
    """Predictions, targets and similarities whose errors grow with the distance from the training set: a
    molecule at similarity s errs by N(0, 0.2 + 1.6 (1 - s))."""
    similarity = rng.uniform(0.2, 1.0, size=n)
    predictions = rng.normal(size=(n, 1))
    scale = 0.2 + 1.6 * (1.0 - similarity)
    return predictions, predictions + (rng.normal(size=n) * scale)[:, None], similarity


def test_intervals_scaled_by_distance_hold_their_coverage_near_and_far(tmp_path):
    """A single model's intervals widen with the distance from the training set: they hold 90 % overall as the
    plain ones do, and also among the far molecules, where a constant width falls short and over-covers the near."""
    rng = np.random.default_rng(5)
    held = {"scaled": [], "plain": []}
    for _ in range(20):
        predictions, targets, similarity = far_and_near(rng, 500)
        scaled = Calibration.fit(
            predictions=predictions, targets=targets, spread=None, task=REGRESSION, similarity=similarity
        )
        plain = Calibration.fit(predictions=predictions, targets=targets, spread=None, task=REGRESSION)
        ((intercept, slope, floor),) = scaled.difficulty
        assert slope == pytest.approx(0.8 * 1.6, rel=0.25) and floor > 0 and not plain.difficulty
        p, y, s = far_and_near(rng, 4000)
        for name, calibration in (("scaled", scaled), ("plain", plain)):
            lower, upper = calibration.interval(p, np.zeros_like(p), 0.9, s)
            covered = (y[:, 0] >= lower[:, 0]) & (y[:, 0] <= upper[:, 0])
            held[name].append((covered.mean(), covered[s < 0.4].mean(), covered[s > 0.8].mean()))
    by_distance, constant = np.mean(held["scaled"], axis=0), np.mean(held["plain"], axis=0)
    assert 0.88 <= by_distance[0] <= 0.92 and 0.88 <= constant[0] <= 0.92  # overall: both hold (0.895, 0.898)
    assert by_distance[1] >= 0.87 and constant[1] < 0.8  # the far molecules: only the scaled ones (0.899, 0.750)
    assert by_distance[2] < 0.95 < constant[2]  # the near: the constant width is needlessly wide (0.885, 0.999)
    lower, upper = scaled.interval(p, np.zeros_like(p), 0.9)  # no similarity: no interval rather than a wrong one
    assert np.isnan(lower).all() and np.isnan(upper).all()
    scaled.write(tmp_path)
    assert Calibration.read(tmp_path) == scaled


def test_ensembles_scale_by_their_spread_not_by_the_distance():
    rng = np.random.default_rng(6)
    predictions, targets, spread = noisy(rng, 300, heteroscedastic=True)
    calibration = Calibration.fit(
        predictions=predictions, targets=targets, spread=spread, task=REGRESSION, similarity=rng.uniform(size=300)
    )
    assert calibration.normalized and not calibration.difficulty
