"""Uncertainty that means what it says, fitted on the validation split and stored with the model
(``calibration.json`` in its folder).

Classification: temperature scaling of each label's logit, so that a predicted 0.8 is active about 80 % of the time
(ROC-AUC is unchanged: the map is monotone), and class-conditional (Mondrian) conformal prediction sets: a class
is in a molecule's set at coverage ``c`` when one minus its calibrated probability is within the class's own
conformal quantile of validation molecules of that class, so that ``c`` of the actives and ``c`` of the inactives are
covered even where actives are 3 % of the library (a marginal set could cover 90 % by never saying "active").
Regression: conformal intervals. The nonconformity score of a validation molecule is its absolute error, divided by
the ensemble's spread where the model has members (intervals then widen where the members disagree); an interval at
coverage ``c`` is the prediction plus or minus the ``ceil((n + 1) c)``-th smallest of the ``n`` scores, which holds
at least ``c`` of new molecules drawn like the validation split. Where that split is small, the scores are instead
the out-of-fold errors of scaffold folds of train (cross-conformal, :mod:`molpipe.train.folds`): the same rule over
many more molecules. A single model's errors are divided by their expected size at the molecule's distance from the
training set (one minus its highest Tanimoto similarity, :mod:`molpipe.featurize.domain`), a line fitted to the same
held-out errors: its intervals are narrower for a molecule like the training molecules and wider for one unlike
any. Pure numpy (and scipy for the one-dimensional fit): no torch, no Spark.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molpipe.models.tasks import Task, binary_targets

FILE = "calibration.json"
MAX_SCORES = 2001  # order statistics kept per label: the interval's quantile is read off them conservatively
_EPS = 1e-6  # probabilities are clipped this far from 0 and 1 before their logit is taken; spreads floored at it


@dataclass(frozen=True)
class Calibration:
    kind: str  # the task's kind
    temperatures: tuple[float, ...] = ()  # classification: per label; 1.0 leaves probabilities as they are
    scores: tuple[tuple[float, ...], ...] = ()  # regression: per label, sorted nonconformity scores (thinned)
    counts: tuple[int, ...] = ()  # regression: per label, how many validation molecules the scores came from
    normalized: bool = False  # regression: scores are |error| / ensemble spread, else |error|
    # classification: per label, per class (inactive, active), sorted scores 1 - p(class) (thinned), and counts
    class_scores: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()
    class_counts: tuple[tuple[int, int], ...] = ()
    folds: int = 0  # regression: the scores are out-of-fold errors of this many scaffold folds; 0: validation split's
    # regression, single model: per label (intercept, slope, floor) of the expected error at distance d from the
    # training set, max(intercept + slope d, floor); scores are |error| divided by it. Empty: not scaled
    difficulty: tuple[tuple[float, float, float], ...] = ()

    @classmethod
    def fit(
        cls,
        *,
        predictions: np.ndarray,
        targets: np.ndarray,
        spread: np.ndarray | None,
        task: Task,
        folds: int = 0,
        similarity: np.ndarray | None = None,
    ) -> Calibration:
        """Fit on held-out predictions [n, labels] (probabilities or label units), their targets (NaN where
        missing) and the ensemble's spread (None for a single model): the validation split's, or with ``folds`` the
        out-of-fold predictions of that many scaffold folds (regression). ``similarity`` [n]: each held-out
        molecule's highest Tanimoto similarity to the molecules its model trained on; with it a single regression
        model's intervals scale with the distance (``difficulty``)."""
        if task.kind == "classification":
            temperatures, class_scores, class_counts = [], [], []
            for column in range(targets.shape[1]):
                observed = ~np.isnan(targets[:, column])
                p, y = predictions[observed, column], targets[observed, column]
                temperature = _temperature(p, y)
                calibrated, active = _sigmoid(_logit(p) / temperature), binary_targets(y) == 1
                per_class = (np.sort(calibrated[~active]), np.sort(1.0 - calibrated[active]))  # 1 - p(true class)
                temperatures.append(temperature)
                class_scores.append(tuple(tuple(float(v) for v in _thin(scores)) for scores in per_class))
                class_counts.append(tuple(len(scores) for scores in per_class))
            return cls(
                task.kind,
                temperatures=tuple(temperatures),
                class_scores=tuple(class_scores),
                class_counts=tuple(class_counts),
            )
        normalized = spread is not None
        scaled = not normalized and similarity is not None
        scores, counts, difficulty = [], [], []
        for column in range(targets.shape[1]):
            observed = ~np.isnan(targets[:, column]) & np.isfinite(predictions[:, column])
            error = np.abs(targets[observed, column] - predictions[observed, column])
            if normalized:
                error = error / np.maximum(spread[observed, column], _EPS)
            elif scaled:
                distance = 1.0 - np.asarray(similarity, dtype=np.float64)[observed]
                difficulty.append(_fit_difficulty(error, distance))
                error = error / _expected_error(difficulty[-1], distance)
            ordered = np.sort(error)
            counts.append(len(ordered))
            scores.append(tuple(float(v) for v in _thin(ordered)))
        return cls(
            task.kind,
            scores=tuple(scores),
            counts=tuple(counts),
            normalized=normalized,
            folds=folds,
            difficulty=tuple(difficulty),
        )

    def probabilities(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities [n, labels] from the model's."""
        if self.kind != "classification":
            return probabilities
        temperature = np.asarray(self.temperatures, dtype=np.float64)
        return _sigmoid(_logit(probabilities) / temperature)

    def interval(
        self, mean: np.ndarray, spread: np.ndarray, coverage: float, similarity: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds [n, labels] at ``coverage``: NaN for classification, where a normalized
        calibration meets a molecule without a spread, and where a ``difficulty``-scaled one is given no
        ``similarity`` [n] (each molecule's highest Tanimoto similarity to the training set). Infinite where too
        few molecules calibrated to give that coverage (fewer than ``1 / (1 - coverage) - 1``)."""
        check_coverage(coverage)
        lower, upper = np.full(mean.shape, np.nan), np.full(mean.shape, np.nan)
        if self.kind == "classification" or (self.difficulty and similarity is None):
            return lower, upper
        for column, (scores, n) in enumerate(zip(self.scores, self.counts)):
            half = _conformal_quantile(scores, n, coverage)
            if self.normalized:
                width = half * np.maximum(spread[:, column], _EPS)
            elif self.difficulty:
                width = half * _expected_error(self.difficulty[column], 1.0 - np.asarray(similarity, np.float64))
            else:
                width = np.full(len(mean), half)
            lower[:, column], upper[:, column] = mean[:, column] - width, mean[:, column] + width
        return lower, upper

    def prediction_sets(self, probabilities: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Whether inactive and whether active is in each molecule's conformal set [n, labels] at ``coverage``,
        from calibrated probabilities; None for regression and for a model calibrated before molpipe kept sets. A
        class with too few validation molecules for that coverage is in every set."""
        check_coverage(coverage)
        if self.kind != "classification" or not self.class_scores:
            return None
        inactive, active = np.zeros(probabilities.shape, bool), np.zeros(probabilities.shape, bool)
        for column, (scores, counts) in enumerate(zip(self.class_scores, self.class_counts)):
            q_inactive, q_active = (_conformal_quantile(s, n, coverage) for s, n in zip(scores, counts))
            inactive[:, column] = probabilities[:, column] <= q_inactive  # 1 - p(inactive) = p
            active[:, column] = 1.0 - probabilities[:, column] <= q_active
        return inactive, active

    def write(self, folder: Path) -> None:
        (folder / FILE).write_text(json.dumps(self.__dict__))

    @classmethod
    def read(cls, folder: Path) -> Calibration | None:
        """The calibration stored in a model folder; None for a model trained before molpipe calibrated."""
        path = folder / FILE
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        return cls(
            raw["kind"],
            tuple(raw["temperatures"]),
            tuple(tuple(s) for s in raw["scores"]),
            tuple(raw["counts"]),
            raw["normalized"],
            tuple(tuple(tuple(s) for s in label) for label in raw.get("class_scores", ())),
            tuple(tuple(c) for c in raw.get("class_counts", ())),
            raw.get("folds", 0),
            tuple(tuple(d) for d in raw.get("difficulty", ())),
        )


def check_coverage(coverage: float) -> None:
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage {coverage!r} must lie strictly between 0 and 1 (score.coverage)")


def quality(
    *,
    predictions: np.ndarray,
    targets: np.ndarray,
    spread: np.ndarray | None,
    calibration: Calibration,
    coverage: float,
    uncalibrated: np.ndarray | None = None,
    similarity: np.ndarray | None = None,
) -> dict[str, float]:
    """What the test split says of the uncertainty, averaged over labels: ``coverage`` (of the intervals, or of the
    prediction sets), ``interval_width`` (regression), ``set_size`` (classification: mean number of classes in a
    set, 1 where the model commits to one), ``ece`` and ``ece_uncalibrated`` (``uncalibrated``: the probabilities
    before temperature scaling), and ``spearman_uncertainty_error`` where there is a spread. ``similarity``: each
    molecule's highest Tanimoto similarity to the training set, for a ``difficulty``-scaled calibration."""
    from scipy.stats import spearmanr

    found: dict[str, list[float]] = {}
    if calibration.kind == "regression":
        lower, upper = calibration.interval(
            predictions, np.zeros_like(predictions) if spread is None else spread, coverage, similarity
        )
    else:
        sets = calibration.prediction_sets(predictions, coverage)
    for column in range(targets.shape[1]):
        observed = ~np.isnan(targets[:, column])
        if not observed.any():
            continue
        y, p = targets[observed, column], predictions[observed, column]
        if calibration.kind == "regression":
            low, high = lower[observed, column], upper[observed, column]
            found.setdefault("coverage", []).append(float(np.mean((y >= low) & (y <= high))))
            found.setdefault("interval_width", []).append(float(np.mean(high - low)))
        else:
            if sets is not None:
                inactive, active = sets[0][observed, column], sets[1][observed, column]
                covered = np.where(binary_targets(y) == 1, active, inactive)
                found.setdefault("coverage", []).append(float(np.mean(covered)))
                found.setdefault("set_size", []).append(float(np.mean(inactive.astype(int) + active)))
            found.setdefault("ece", []).append(expected_calibration_error(p, y))
            if uncalibrated is not None:
                found.setdefault("ece_uncalibrated", []).append(
                    expected_calibration_error(uncalibrated[observed, column], y)
                )
        if spread is not None and observed.sum() > 2 and np.ptp(spread[observed, column]) > 0:
            rho = spearmanr(spread[observed, column], np.abs(y - p)).statistic
            found.setdefault("spearman_uncertainty_error", []).append(float(rho))
    return {name: float(np.mean(values)) for name, values in found.items()}


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """Mean |observed active fraction - mean predicted probability| over equal-width probability bins, weighted by
    the bins' sizes (soft labels count by majority, as in the metrics)."""
    y = binary_targets(targets)
    which = np.minimum((probabilities * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(y[members].mean() - probabilities[members].mean())
    return float(total / max(len(y), 1))


def reliability(probabilities: np.ndarray, targets: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Mean predicted probability and observed active fraction per non-empty bin: the calibration plot's points."""
    y = binary_targets(targets)
    which = np.minimum((probabilities * bins).astype(int), bins - 1)
    used = [b for b in range(bins) if (which == b).any()]
    return (
        np.array([probabilities[which == b].mean() for b in used]),
        np.array([y[which == b].mean() for b in used]),
    )


def _conformal_quantile(scores: tuple[float, ...], n: int, coverage: float) -> float:
    """The ``ceil((n + 1) coverage)``-th smallest of ``n`` scores, of which ``scores`` keeps the order statistics at
    0-based ranks ``round(i (n - 1) / (m - 1))``: the first kept at or above it (never a narrower interval)."""
    rank = math.ceil((n + 1) * coverage)
    if n == 0 or rank > n:
        return math.inf
    kept = len(scores)
    position = math.ceil((rank - 1) * (kept - 1) / (n - 1)) if n > 1 else 0
    return scores[min(position, kept - 1)]


def _fit_difficulty(error: np.ndarray, distance: np.ndarray) -> tuple[float, float, float]:
    """(intercept, slope, floor) of the least-squares line of absolute error on distance, the slope held at 0 or
    more (a molecule further from the training set is never expected to be easier); the floor, a tenth of the mean
    error, keeps a near neighbour's interval from collapsing."""
    mean_error = float(np.mean(error)) if len(error) else 0.0
    floor = max(0.1 * mean_error, _EPS)
    if len(error) < 3 or np.ptp(distance) == 0:
        return max(mean_error, floor), 0.0, floor
    slope = max(float(np.polyfit(distance, error, 1)[0]), 0.0)
    return mean_error - slope * float(np.mean(distance)), slope, floor


def _expected_error(difficulty: tuple[float, float, float], distance: np.ndarray) -> np.ndarray:
    intercept, slope, floor = difficulty
    return np.maximum(intercept + slope * distance, floor)


def _temperature(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the validation split's log loss (1.0 where there is nothing to fit)."""
    from scipy.optimize import minimize_scalar

    if len(targets) < 2 or len(np.unique(binary_targets(targets))) < 2:
        return 1.0
    logits = _logit(probabilities)

    def log_loss(log_t: float) -> float:
        p = np.clip(_sigmoid(logits / math.exp(log_t)), _EPS, 1 - _EPS)
        return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))

    found = minimize_scalar(log_loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(found.x))


def _thin(ordered: np.ndarray) -> np.ndarray:
    if len(ordered) <= MAX_SCORES:
        return ordered
    ranks = np.round(np.arange(MAX_SCORES) * (len(ordered) - 1) / (MAX_SCORES - 1)).astype(int)
    return ordered[ranks]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
