"""The model card: what a registered version was trained on and how it did, kept as the version's tags. Training
writes it (:meth:`ModelCard.tags`); validate, score, monitor and serve read it (:meth:`ModelCard.of`)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from molpipe.models.tasks import Task

LINEAGE_TAG = "molpipe.lineage.{table}"  # the training run's tag per table read: "<location>@v<delta version>"


@dataclass(frozen=True)
class ModelCard:
    run_id: str  # the MLflow training run
    model: str  # the architecture (fp-mlp, gnn, chemberta)
    library: str
    split_id: str
    task: Task
    lineage: dict[str, int]  # the Delta version of each table the run read (molecules, features, splits)
    test_metrics: dict[str, float] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        """The card as model version tags (strings; the test metrics also one tag each, for the registry UI)."""
        return {
            "run_id": self.run_id,
            "model": self.model,
            "library": self.library,
            "split_id": self.split_id,
            "task": json.dumps(asdict(self.task)),
            "lineage": json.dumps(self.lineage),
            **{f"test_{name}": f"{value:.6g}" for name, value in self.test_metrics.items()},
        }

    @classmethod
    def of(cls, version) -> ModelCard:
        """The card of an MLflow ``ModelVersion``. Versions registered before the card carried its lineage take it
        from their training run's tags."""
        tags = version.tags
        if "task" not in tags or "library" not in tags:
            raise ValueError(
                f"model {version.name} v{version.version} has no molpipe model card: it was not "
                "registered by `molpipe train`"
            )
        task = json.loads(tags["task"])
        if "lineage" in tags:
            lineage = {table: int(v) for table, v in json.loads(tags["lineage"]).items()}
        else:
            lineage = _run_lineage(tags.get("run_id") or version.run_id)
        metrics = {k.removeprefix("test_"): float(v) for k, v in tags.items() if k.startswith("test_")}
        return cls(
            run_id=tags.get("run_id") or version.run_id,
            model=tags.get("model", ""),
            library=tags["library"],
            split_id=tags["split_id"],
            task=Task(tuple(task["labels"]), task["kind"]),
            lineage=lineage,
            test_metrics=metrics,
        )


def lineage_tag(location: str, version: int) -> str:
    """The training run's tag value for a table read at ``version``."""
    return f"{location}@v{version}"


def lineage_version(tag: str) -> int:
    match = re.search(r"@v(\d+)$", tag)
    if not match:
        raise ValueError(f"lineage tag {tag!r} has no Delta version")
    return int(match.group(1))


def _run_lineage(run_id: str) -> dict[str, int]:
    import mlflow

    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    prefix = LINEAGE_TAG.format(table="")
    return {key.removeprefix(prefix): lineage_version(value) for key, value in tags.items() if key.startswith(prefix)}
