"""The one way molpipe names a registered model. A user writes ``NAME@alias``, ``NAME/VERSION`` or ``NAME``
(:class:`ModelRef`); a job resolves that once to a version and hands worker processes and executors the version
itself (:class:`PinnedModel`), never the alias, so a promotion during a run cannot mix two versions."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from molpipe.config import Settings
from molpipe.registry.lookup import missing
from molpipe.registry.tracking import CHAMPION, registered_name

# what the registry answers for a name, alias or version it does not hold (sqlite and workspace: the first two; Unity
# Catalog: NOT_FOUND too); a missing alias is INVALID_PARAMETER_VALUE
NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"})
_REF = re.compile(r"([A-Za-z0-9_.\-]+)(?:@([A-Za-z0-9_\-]+)|/(\d+))?")


@dataclass(frozen=True)
class ModelRef:
    """``NAME@alias`` (follows the alias), ``NAME/VERSION`` (pinned) or ``NAME`` (``NAME@champion``); a
    ``models:/`` prefix is accepted. On Databricks NAME is the Unity Catalog ``catalog.schema.model``."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = _REF.fullmatch(text.strip().removeprefix("models:/"))
        if not match:
            raise ValueError(f"--model {text!r}: expected NAME@alias, NAME/version or NAME (e.g. hiv_gnn@champion)")
        name, alias, version = match.groups()
        return cls(name, alias if alias or version else CHAMPION, version)

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"

    def registered(self, *, settings: Settings, databricks: bool) -> ModelRef:
        """The reference under its registry name: a bare name becomes ``catalog.schema.name`` in Unity Catalog."""
        if "." in self.name:
            return self
        return replace(self, name=registered_name(settings, self.name, databricks))

    def resolve(self):
        """The registry's ``ModelVersion`` this reference points at now."""
        import mlflow
        from mlflow.exceptions import MlflowException

        client = mlflow.MlflowClient()
        try:
            if self.alias:
                return client.get_model_version_by_alias(self.name, self.alias)
            return client.get_model_version(self.name, self.version)
        except MlflowException as exc:
            if exc.error_code not in NOT_FOUND:  # the registry's own trouble (down, refusing): not a wrong name
                raise
            what = f"alias {self.alias!r}" if self.alias else f"version {self.version}"
            raise ValueError(missing(client, self.name, what)) from None

    def pin(self) -> PinnedModel:
        """The version this reference points at now, with the registry it lives in."""
        return PinnedModel.of(self.name, str(self.resolve().version))


@dataclass(frozen=True)
class PinnedModel:
    """One registered version and the registry it lives in: what a worker process or an executor loads (from
    :attr:`folder`, a local copy, where one was downloaded on its machine; else from the registry)."""

    name: str
    version: str
    tracking_uri: str
    registry_uri: str
    folder: str = ""

    @classmethod
    def of(cls, name: str, version: str) -> PinnedModel:
        """``name`` at ``version`` in the registry MLflow points at in this process."""
        import mlflow

        return cls(name, str(version), mlflow.get_tracking_uri(), mlflow.get_registry_uri())

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def download(self, destination: Path) -> PinnedModel:
        """This version with its files downloaded into ``destination``, for processes on this machine to load."""
        import mlflow

        destination.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        return replace(
            self, folder=mlflow.artifacts.download_artifacts(artifact_uri=self.uri, dst_path=str(destination))
        )
