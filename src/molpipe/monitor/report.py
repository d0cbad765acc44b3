"""The drift report of one scoring run as one PNG: a panel per key descriptor (training set vs the run, on the
training set's quantile bins), the predictions (held-out vs the run), the run's applicability-domain similarity
with its threshold, and every PSI against its threshold; the verdict in the title."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from molpipe.config import MonitorOptions
from molpipe.monitor.drift import Measure, shares

REFERENCE, CURRENT, ALERT = "tab:blue", "tab:orange", "tab:red"


def drift_report(
    path: Path,
    info: dict[str, Any],
    measures: list[Measure],
    drifted: bool,
    retrain: bool,
    reasons: list[str],
    options: MonitorOptions,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    binned = [m for m in measures if m.reference and m.current]  # descriptors, then the predictions
    ad = next(m for m in measures if m.metric == "outside_ad_fraction")
    panels = len(binned) + 2
    columns = 4
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    axes = axes.ravel()
    for ax, m in zip(axes, binned):
        _distribution(ax, m, "held-out" if m.metric.startswith("prediction") else "training set")
    _ad_panel(axes[len(binned)], ad, options)
    _psi_panel(axes[len(binned) + 1], binned, options)
    for ax in axes[panels:]:
        ax.set_visible(False)
    if not drifted:
        verdict = "stable: every measure within its threshold"
    else:
        action = (
            "RETRAIN: the training data has changed since this model was trained"
            if retrain
            else "no new training data since this model: send drifted molecules to the lab"
        )
        verdict = "\n".join(textwrap.wrap(f"DRIFTED: {'; '.join(reasons)}", 150) + [action])
    fig.suptitle(
        f"drift of scoring run {info['scoring_run_id']} ({info['library']}) against "
        f"{info['model_name']} v{info['model_version']}\n{verdict}",
        color=ALERT if drifted else "black",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _distribution(ax, m: Measure, reference_name: str) -> None:
    labels = _bin_labels(m.edges)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, shares(np.array(m.reference)), 0.4, color=REFERENCE, label=f"{reference_name} (n={m.n_reference})")
    ax.bar(x + 0.2, shares(np.array(m.current)), 0.4, color=CURRENT, label=f"this run (n={m.n_current})")
    ax.set_xticks(x, labels, rotation=60, fontsize=6)
    name = "prediction" if m.metric.startswith("prediction") else m.feature
    ax.set_title(f"{name}: PSI {m.value:.3f}", color=ALERT if m.drifted else "black", fontsize=9)
    ax.set_ylabel("share", fontsize=8)
    ax.legend(fontsize=6)


def _ad_panel(ax, m: Measure, options: MonitorOptions) -> None:
    labels = _bin_labels(m.edges)
    ax.bar(np.arange(len(labels)), shares(np.array(m.current)), color=CURRENT)
    ax.axvline(options.ad_similarity / 0.05 - 0.5, color=ALERT, linestyle="--", label=f"{options.ad_similarity:g}")
    ax.set_xticks(np.arange(len(labels)), labels, rotation=60, fontsize=6)
    ax.set_title(
        f"max Tanimoto to training set: {m.value:.1%} outside", color=ALERT if m.drifted else "black", fontsize=9
    )
    ax.legend(fontsize=6)


def _psi_panel(ax, binned: list[Measure], options: MonitorOptions) -> None:
    names = ["prediction" if m.metric.startswith("prediction") else m.feature for m in binned]
    values = [m.value if np.isfinite(m.value) else 0.0 for m in binned]
    ax.barh(names, values, color=[ALERT if m.drifted else REFERENCE for m in binned])
    ax.axvline(options.psi_threshold, color=ALERT, linestyle="--", label=f"threshold {options.psi_threshold:g}")
    ax.set_title("population stability index", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all", "missing"]
    cuts = [f"{e:.3g}" for e in edges]
    return [f"<={cuts[0]}"] + [f"{a}-{b}" for a, b in zip(cuts, cuts[1:])] + [f">{cuts[-1]}", "missing"]
