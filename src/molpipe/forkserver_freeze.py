"""The last module a worker pool's forkserver preloads (:mod:`molpipe.parallel`, :mod:`molpipe.serve.runner`).

Importing it freezes the forkserver's heap (``gc.freeze``), as the ``gc`` documentation advises before ``fork()``
without ``exec()``: the workers forked from it then never walk the preloaded modules' objects (torch, RDKit, the
model classes) in their own collections, nor touch the pages that hold them, and the forkserver itself exits
without a last collection over them, which a job's caller waits for (1.3 s after a score run, measured) while the
forkserver holds the job's standard streams open.
"""

import gc

gc.freeze()
