"""Acquisition functions by name: how a scored molecule's prediction and uncertainty become the score that ranks
it for the lab.

Every function sees the prediction ``mean`` and its standard deviation ``std`` (label units: probabilities for
classification) oriented so that higher is better (``direction = "minimize"`` negates the mean first), and
returns one score per molecule, higher = acquire first. Stochastic ones (``thompson``, ``random``) draw from a hash
of the InChIKey and the seed, so a molecule's score does not depend on partitioning or row order and a re-run
gives the same ranking. Adding one is a class and ``@register_acquisition("name")``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from molpipe.registries import Registry


@dataclass(frozen=True)
class AcquisitionContext:
    incumbent: float = 0.0  # best value observed so far (oriented: higher is better), for ``ei``
    beta: float = 1.0  # ``ucb``: weight of the uncertainty
    xi: float = 0.01  # ``ei``: improvement required over the incumbent
    seed: int = 0  # ``thompson`` and ``random``


class Acquisition(ABC):
    name: ClassVar[str]
    uses_uncertainty: ClassVar[bool] = True

    @abstractmethod
    def score(self, mean: np.ndarray, std: np.ndarray, keys: Sequence[str], context: AcquisitionContext) -> np.ndarray:
        """Scores, higher = acquire first; ``std`` has no NaN (missing uncertainty is 0)."""


ACQUISITIONS: Registry[type[Acquisition]] = Registry("acquisition function")
register_acquisition = ACQUISITIONS.register
available_acquisitions = ACQUISITIONS.names


def get_acquisition(name: str) -> Acquisition:
    return ACQUISITIONS.get(name)()


def acquire(
    name: str, mean: np.ndarray, std: np.ndarray, keys: Sequence[str], context: AcquisitionContext, maximize: bool
) -> np.ndarray:
    """Oriented, NaN-safe scores of acquisition ``name``."""
    oriented = np.asarray(mean, dtype=np.float64) * (1.0 if maximize else -1.0)
    spread = np.nan_to_num(np.asarray(std, dtype=np.float64), nan=0.0)
    return get_acquisition(name).score(oriented, spread, keys, context)


@dataclass(frozen=True)
class Acquirer:
    """Acquisition ``name`` bound to its context and direction: picklable, so it runs wherever molecules are scored
    (every acquisition is row-wise given the context)."""

    name: str
    context: AcquisitionContext
    maximize: bool = True

    def __call__(self, mean: np.ndarray, std: np.ndarray, keys: Sequence[str]) -> np.ndarray:
        return acquire(self.name, mean, std, keys, self.context, self.maximize)


@register_acquisition("greedy")
class Greedy(Acquisition):
    """Exploit: the best prediction first."""

    uses_uncertainty = False

    def score(self, mean, std, keys, context):
        return mean


@register_acquisition("ucb")
class UpperConfidenceBound(Acquisition):
    """Optimism under uncertainty: mean + beta * std."""

    def score(self, mean, std, keys, context):
        return mean + context.beta * std


@register_acquisition("ei")
class ExpectedImprovement(Acquisition):
    """Expected improvement over the incumbent under a Gaussian predictive distribution."""

    def score(self, mean, std, keys, context):
        from scipy.special import ndtr  # here, not at the top: a scoring driver only names acquisitions (0.15 s)

        gain = mean - context.incumbent - context.xi
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(std > 0, gain / std, 0.0)
        pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
        return np.where(std > 0, gain * ndtr(z) + std * pdf, np.maximum(gain, 0.0))


@register_acquisition("thompson")
class ThompsonSampling(Acquisition):
    """One draw from each molecule's predictive distribution."""

    def score(self, mean, std, keys, context):
        from scipy.special import ndtri

        return mean + std * ndtri(hash_uniform(keys, context.seed))


@register_acquisition("random")
class RandomSelection(Acquisition):
    """The baseline every strategy must beat."""

    uses_uncertainty = False

    def score(self, mean, std, keys, context):
        return hash_uniform(keys, context.seed)


def hash_uniform(keys: Sequence[str], seed: int) -> np.ndarray:
    """A uniform number in (0, 1) per key, fixed by the key and the seed."""
    out = np.empty(len(keys))
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        out[i] = (int.from_bytes(digest, "big") + 0.5) / 2**64
    return out
