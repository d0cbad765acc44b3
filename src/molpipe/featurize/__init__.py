"""Featurizers (pure RDKit, registered by name) and the featurize job that fans them out over Spark partitions."""

from molpipe.featurize import fingerprints, graph  # noqa: F401  (importing registers the featurizers)
from molpipe.featurize.registry import Featurizer, available, get_featurizer, parse_featurizers

__all__ = ["Featurizer", "available", "get_featurizer", "parse_featurizers"]
