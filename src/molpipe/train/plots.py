"""Run plots as PNG artifacts: learning curves; ROC and precision-recall curves (classification) or a parity plot
(regression) on the test split; and the calibration plot: a reliability diagram before and after temperature scaling
(classification) or the conformal intervals' coverage at each nominal level (regression)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from molpipe.models.tasks import Task, binary_targets


def log_training_plots(out: Path, history: list[dict], task: Task, coverage: float) -> None:
    import mlflow

    from molpipe.models.calibration import Calibration

    test = np.load(out / "test_predictions.npz")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_plots(Path(tmp), history, test, task)
        paths.append(write_calibration_plot(Path(tmp), test, Calibration.read(out), task, coverage))
        for path in paths:
            mlflow.log_artifact(str(path), "plots")


def write_plots(folder: Path, history: list[dict], test, task: Task) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    epochs = [row["epoch"] for row in history]
    metric = f"valid_{task.primary_metric}"
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(epochs, [row["train_loss"] for row in history], label="train loss", color="tab:blue")
    left.set_xlabel("epoch")
    left.set_ylabel("train loss")
    right = left.twinx()
    right.plot(epochs, [row.get(metric, np.nan) for row in history], label=metric, color="tab:orange")
    right.set_ylabel(metric)
    fig.legend(loc="upper center", ncol=2)
    fig.tight_layout()
    paths.append(_save(fig, folder / "learning_curves.png"))

    predictions, targets = test["predictions"], test["targets"]
    if task.kind == "classification":
        from sklearn.metrics import precision_recall_curve, roc_curve

        fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4))
        for column, label in enumerate(task.labels):
            mask = ~np.isnan(targets[:, column])
            y, p = binary_targets(targets[mask, column]), predictions[mask, column]
            if len(np.unique(y)) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, p)
            precision, recall, _ = precision_recall_curve(y, p)
            roc.plot(fpr, tpr, label=label)
            pr.plot(recall, precision, label=label)
        roc.plot([0, 1], [0, 1], "k--", linewidth=0.8)
        roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
        pr.set(xlabel="recall", ylabel="precision", title="precision-recall (test)")
        if len(task.labels) <= 12:
            roc.legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, folder / "roc_pr_test.png"))
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        mask = ~np.isnan(targets)
        ax.scatter(targets[mask], predictions[mask], s=6, alpha=0.5)
        low, high = np.nanmin(targets), np.nanmax(targets)
        ax.plot([low, high], [low, high], "k--", linewidth=0.8)
        ax.set(xlabel="measured", ylabel="predicted", title="parity (test)")
        fig.tight_layout()
        paths.append(_save(fig, folder / "parity_test.png"))
    return paths


def write_calibration_plot(folder: Path, test, calibration, task: Task, coverage: float) -> Path:
    """``calibration_test.png``: reliability of the probabilities, or the coverage the intervals reach."""
    import matplotlib.pyplot as plt

    from molpipe.models.calibration import reliability

    targets = test["targets"]
    fig, ax = plt.subplots(figsize=(5, 5))
    if task.kind == "classification":
        for key, name, style in (("uncalibrated", "model", "o--"), ("predictions", "temperature-scaled", "o-")):
            points = [
                reliability(test[key][~np.isnan(targets[:, c]), c], targets[~np.isnan(targets[:, c]), c])
                for c in range(targets.shape[1])
            ]
            mean_p = np.concatenate([p for p, _ in points])
            observed = np.concatenate([o for _, o in points])
            ax.plot(mean_p, observed, style, markersize=4, label=name)
        ax.set(xlabel="mean predicted probability", ylabel="observed active fraction", title="reliability (test)")
    else:
        spread = test["spread"]
        levels = np.linspace(0.5, 0.975, 20)
        reached = []
        for level in levels:
            lower, upper = calibration.interval(test["predictions"], spread, float(level), test["similarity"])
            mask = ~np.isnan(targets)
            reached.append(np.mean((targets[mask] >= lower[mask]) & (targets[mask] <= upper[mask])))
        ax.plot(levels, reached, "o-", markersize=4, label="conformal intervals")
        ax.axvline(coverage, color="grey", linewidth=0.8, linestyle=":")
        ax.set(xlabel="nominal coverage", ylabel="test coverage", title="interval coverage (test)")
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, folder / "calibration_test.png")


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
