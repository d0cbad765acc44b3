"""Why a row was quarantined: one closed vocabulary shared by ingest, featurize and the summaries."""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    # raised while reading the file (ingest)
    MALFORMED_ROW = "malformed_row"
    INVALID_LABEL = "invalid_label"
    # raised by the chemistry (featurize)
    EMPTY = "empty"
    UNPARSABLE = "unparsable"
    SANITIZATION_FAILED = "sanitization_failed"
    TOO_LARGE = "too_large"
    STANDARDIZATION_FAILED = "standardization_failed"
    INCHI_FAILED = "inchi_failed"
    FEATURIZER_ERROR = "featurizer_error"
    # raised while scoring (score): a molecule the model could not predict for
    SCORING_ERROR = "scoring_error"

    def __str__(self) -> str:
        return self.value
