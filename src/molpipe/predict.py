"""Where the first registered models of molpipe find their pyfunc class: MLflow pickled it by this import path.
The class lives in :mod:`molpipe.registry.pyfunc`, the predictor in :mod:`molpipe.models.predictor`."""

from molpipe.registry.pyfunc import MolpipePyfunc

__all__ = ["MolpipePyfunc"]
