"""Model lifecycle on registry aliases: ``challenger`` -> validate -> ``champion``, with promote and rollback.

* every training registers a new version and points ``challenger`` at it (:mod:`molpipe.train.job`);
* :func:`validate` scores challenger and champion on the challenger's test split, read from the Delta versions its
  run recorded, and passes only if the thresholds of ``[validation]`` hold and the challenger is not worse than
  the champion by more than the margin; the verdict is kept as tags on the challenger version;
* :func:`promote` moves ``champion`` to the validated challenger and pushes the previous champion onto the
  registered model's history tag; :func:`rollback` pops it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from molpipe.config import ValidationOptions
from molpipe.lake.tables import Catalog
from molpipe.models.tasks import Task, metrics
from molpipe.registry.card import ModelCard
from molpipe.registry.lookup import registered_model
from molpipe.registry.tracking import CHALLENGER, CHAMPION
from molpipe.runtime.faults import checkpoint

HISTORY_TAG = "molpipe.champion_history"


@dataclass
class ValidationResult:
    model_name: str
    challenger: str
    champion: str | None
    passed: bool
    metric: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    test_molecules: int = 0
    invalid_smiles: int = 0

    def describe(self) -> str:
        """What ``molpipe validate`` prints: both versions' metric on the test split, and the verdict."""
        verdict = "PASSED" if self.passed else "FAILED: " + "; ".join(self.reasons)
        champion = (
            f" vs champion v{self.champion} {self.champion_metrics.get(self.metric, float('nan')):.4f}"
            if self.champion
            else ""
        )
        return (
            f"{self.model_name} challenger v{self.challenger}: {self.metric} "
            f"{self.challenger_metrics.get(self.metric, float('nan')):.4f}{champion} on {self.test_molecules} "
            f"test molecules: {verdict}"
        )


@dataclass
class AliasChange:
    model_name: str
    champion: str
    previous_champion: str | None
    action: str

    def describe(self) -> str:
        """What ``molpipe promote`` or ``molpipe rollback`` prints: where the champion alias points now."""
        if self.action == "rollback":
            return f"{self.model_name}: champion rolled back to v{self.champion} (was v{self.previous_champion})"
        return f"{self.model_name}: champion is now v{self.champion} (was {self.previous_champion or 'none'})"


def _client():
    import mlflow

    return mlflow.MlflowClient()


def _version_by_alias(name: str, alias: str):
    """The model version an alias points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def validate(
    catalog: Catalog, *, name: str, options: ValidationOptions, version: str | None = None
) -> ValidationResult:
    """Score the challenger (and the champion) on the challenger's test split, as of the Delta versions its
    training read, and keep the verdict as tags on the challenger; ``version``: the challenger a job's train task
    registered (fails if the alias has moved since)."""
    registered_model(_client(), name)
    challenger = _version_by_alias(name, CHALLENGER)
    if challenger is None:
        raise ValueError(f"model {name!r} has no '{CHALLENGER}' version: train one with `molpipe train`")
    _expect(name, challenger, version)
    champion = _version_by_alias(name, CHAMPION)
    card = ModelCard.of(challenger)
    test = _test_split(catalog, card)
    targets = test[list(card.task.labels)].to_numpy(dtype=float)
    challenger_metrics, invalid = _test_metrics(name, challenger.version, test, targets, card.task)
    champion_metrics: dict[str, float] = {}
    value = challenger_metrics.get(card.task.primary_metric)
    if champion is not None and champion.version != challenger.version and value is not None:
        champion_metrics, _ = _test_metrics(name, champion.version, test, targets, card.task)
    champion_version = str(champion.version) if champion else None
    reasons = verdict(
        task=card.task,
        options=options,
        challenger=challenger_metrics,
        champion=champion_metrics,
        champion_version=champion_version,
    )
    result = ValidationResult(
        name,
        str(challenger.version),
        champion_version,
        not reasons,
        card.task.primary_metric,
        challenger_metrics,
        champion_metrics,
        reasons,
        len(test),
        invalid,
    )
    client = _client()
    client.set_model_version_tag(name, challenger.version, "validation_status", "passed" if result.passed else "failed")
    client.set_model_version_tag(
        name,
        challenger.version,
        "validation",
        json.dumps(
            {
                "metric": result.metric,
                "challenger": challenger_metrics,
                "champion": champion_metrics,
                "champion_version": champion_version,
                "reasons": reasons,
            }
        ),
    )
    return result


def verdict(
    *,
    task: Task,
    options: ValidationOptions,
    challenger: dict[str, float],
    champion: dict[str, float],
    champion_version: str | None,
) -> list[str]:
    """Why a challenger with these test metrics fails validation (an empty list: it passes). The rule alone, no
    registry: the thresholds of ``[validation]`` on the task's primary metric, and not worse than the champion
    (when there is one with that metric) by more than the margin."""
    metric = task.primary_metric
    value = challenger.get(metric)
    if value is None:
        return [f"test split has no {metric}: too few molecules or one class only"]
    reasons = []
    if task.higher_is_better and value < options.min_roc_auc:
        reasons.append(f"{metric} {value:.4f} < min_roc_auc {options.min_roc_auc}")
    elif not task.higher_is_better and options.max_rmse and value > options.max_rmse:
        reasons.append(f"{metric} {value:.4f} > max_rmse {options.max_rmse}")
    best = champion.get(metric)
    if best is not None:
        worse = best - value if task.higher_is_better else value - best
        if worse > options.margin:
            reasons.append(
                f"{metric} {value:.4f} is worse than champion v{champion_version}'s {best:.4f} "
                f"by more than the margin {options.margin}"
            )
    return reasons


def _test_split(catalog: Catalog, card: ModelCard):
    """The card's test molecules (SMILES and labels) as of the Delta versions its training read."""
    from pyspark.sql import functions as F

    library = card.library
    test = (
        catalog.read_version("splits", card.lineage["splits"])
        .where((F.col("library") == library) & (F.col("split_id") == card.split_id) & (F.col("split") == "test"))
        .join(
            catalog.read_version("molecules", card.lineage["molecules"]).where(F.col("library") == library), "inchikey"
        )
        .select("smiles", *[F.col("labels")[label].alias(label) for label in card.task.labels])
        .toPandas()
    )
    if test.empty:
        raise ValueError(f"split {card.split_id!r} of {library!r} has no test molecules to validate on")
    return test


def _test_metrics(name: str, version, test, targets, task: Task) -> tuple[dict[str, float], int]:
    """A version's metrics on the test molecules, and how many of them it could not take."""
    import mlflow

    predicted = mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(test[["smiles"]])
    columns = ["prediction"] if len(task.labels) == 1 else [f"prediction_{label}" for label in task.labels]
    valid = predicted["valid"].to_numpy(dtype=bool)
    return metrics(predicted.loc[valid, columns].to_numpy(dtype=float), targets[valid], task.kind), int((~valid).sum())


def promote(name: str, *, force: bool = False, version: str | None = None) -> AliasChange:
    """Move ``champion`` to the challenger (validated, unless ``force``) and remember the previous champion for
    :func:`rollback`; ``version``: the challenger a job's train task registered. A job that promoted ``version``
    already (its task killed after the promotion, then run again) changes nothing and succeeds."""
    registered_model(_client(), name)
    challenger = _version_by_alias(name, CHALLENGER)
    champion = _version_by_alias(name, CHAMPION)
    if challenger is None and version and champion is not None and str(champion.version) == str(version):
        return AliasChange(name, str(version), (_history(name) or [None])[-1], "promote")
    if challenger is None:
        raise ValueError(f"model {name!r} has no '{CHALLENGER}' version to promote")
    _expect(name, challenger, version)
    if not force and challenger.tags.get("validation_status") != "passed":
        status = challenger.tags.get("validation_status", "not validated")
        raise ValueError(
            f"challenger v{challenger.version} of {name!r} is {status}: run `molpipe validate --model {name}` "
            "(or promote with --force)"
        )
    client = _client()
    history = _history(name)
    # three registry writes, each safe to repeat: a promotion killed after the push and repeated pushes nothing more
    # (the history's last entry is never the champion otherwise: a push moves the champion off it, a rollback pops it)
    if champion is not None and champion.version != challenger.version and history[-1:] != [str(champion.version)]:
        history.append(str(champion.version))
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    checkpoint("promote.history_pushed")
    client.set_registered_model_alias(name, CHAMPION, challenger.version)
    checkpoint("promote.champion_moved")
    client.delete_registered_model_alias(name, CHALLENGER)
    return AliasChange(name, str(challenger.version), str(champion.version) if champion else None, "promote")


def rollback(name: str) -> AliasChange:
    """Point ``champion`` back at the version it had before the last promotion."""
    history = _history(name)
    if not history:
        raise ValueError(f"model {name!r} has no previous champion to roll back to")
    previous = history.pop()
    client = _client()
    current = _version_by_alias(name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    return AliasChange(name, previous, str(current.version) if current else None, "rollback")


def _expect(name: str, challenger, version: str | None) -> None:
    """A job's validate and promote act on the version its train task registered, never on a later one."""
    if version and str(challenger.version) != str(version):
        raise ValueError(
            f"the '{CHALLENGER}' of {name!r} is v{challenger.version}, not v{version}: a later training moved it"
        )


def _history(name: str) -> list[str]:
    return json.loads(registered_model(_client(), name).tags.get(HISTORY_TAG, "[]"))
