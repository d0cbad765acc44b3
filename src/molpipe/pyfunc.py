"""Models registered before the pyfunc moved to :mod:`molpipe.registry.pyfunc` pickled it by this import path.
(a test keeps it loading)."""

from molpipe.registry.pyfunc import MolpipePyfunc

__all__ = ["MolpipePyfunc"]
