"""Featurizers by name.

A featurizer turns one sanitized RDKit molecule into features: a vector (``kind == "vector"``) or a molecular graph
(``kind == "graph"``). Each is a frozen dataclass whose fields are its parameters, with a ``version`` that is bumped
whenever its output changes; ``spec`` (name, version, parameters) is stored beside every feature row so a model can
always say exactly which features it was trained on.

Adding one is a class and a decorator::

    @register("my_fp")
    @dataclass(frozen=True)
    class MyFingerprint(Featurizer):
        version = 1
        ...

and ``molpipe featurize --featurizers my_fp`` accepts the name. Parameters go after colons on the command line:
``morgan:radius=3:n_bits=1024``.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from rdkit import Chem

from molpipe.registries import Registry


class Featurizer(ABC):
    """One molecule in, features out; parameters are dataclass fields."""

    name: ClassVar[str]
    version: ClassVar[int]
    kind: ClassVar[str] = "vector"
    #: cheaper to compute from a SMILES than to read back from the ``features`` table (a Morgan fingerprint
    #: costs 0.04 ms; a stored one is an 8 KB list through a join): scoring recomputes it in its workers
    #: instead of joining the pool to the stored column
    cheap: ClassVar[bool] = False

    @abstractmethod
    def compute(self, mol: Chem.Mol) -> Any:
        """Features of one molecule: a float32 vector, or :class:`~molpipe.featurize.graph.GraphArrays`."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the vector (vector featurizers) or of each node's feature row (graph featurizers)."""

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.name}_{i}" for i in range(self.dim)]

    @property
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @property
    def spec(self) -> str:
        """Stable identity of this featurizer's output: name, version and parameters."""
        params = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}/v{self.version}" + (f"({params})" if params else "")

    def describe(self) -> dict[str, Any]:
        return {
            "featurizer": self.name,
            "spec": self.spec,
            "version": self.version,
            "kind": self.kind,
            "dim": self.dim,
            "params": json.dumps(self.params, sort_keys=True),
            "feature_names": self.feature_names,
        }


FEATURIZERS: Registry[type[Featurizer]] = Registry("featurizer")
register = FEATURIZERS.register
available = FEATURIZERS.names


def get_featurizer(text: str) -> Featurizer:
    """Build a featurizer from ``name`` or ``name:param=value:param=value``."""
    name, *assignments = [part.strip() for part in text.strip().split(":")]
    cls = FEATURIZERS.get(name)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or key not in fields:
            raise ValueError(
                f"bad parameter {assignment!r} for featurizer {name!r}; parameters: {', '.join(fields) or 'none'}"
            )
        kwargs[key] = _coerce(raw, type(fields[key].default), name, key)
    return cls(**kwargs)


def parse_featurizers(text: str) -> list[Featurizer]:
    """``"morgan,rdkit2d,graph"`` -> featurizers, in order, without repeats."""
    featurizers = [get_featurizer(part) for part in text.split(",") if part.strip()]
    if not featurizers:
        raise ValueError("no featurizer named; available: " + ", ".join(available()))
    names = [f.name for f in featurizers]
    if len(set(names)) != len(names):
        raise ValueError(f"a featurizer is named twice in {text!r}")
    return featurizers


def _coerce(raw: str, kind: type, featurizer: str, key: str) -> Any:
    try:
        if kind is bool:
            if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"true", "1", "yes"}
        return kind(raw)
    except ValueError:
        raise ValueError(f"featurizer {featurizer!r}: {key}={raw!r} is not a valid {kind.__name__}") from None


def as_float32(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)
