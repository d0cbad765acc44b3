"""The last module a worker pool's forkserver preloads (:mod:`molpipe.runtime.parallel`, :mod:`molpipe.serve.runner`).

Importing it there freezes the forkserver's heap (``gc.freeze``), as the ``gc`` documentation advises before
``fork()`` without ``exec()``: the workers forked from it then never walk the preloaded modules' objects (torch,
RDKit, the model classes) in their own collections, nor touch the pages that hold them.

It also lets the forkserver end without the interpreter's teardown. A forkserver stops when the process it serves
has exited; it holds that process's standard streams, so a caller reading them to their end (a pipe, ``subprocess``)
waits for it, and tearing down torch's and RDKit's modules would delay the end of every ``molpipe score``.
Its workers have ended by then and it has nothing to flush, so its last exit handler ends the process at once.
Imported anywhere but a forkserver's preload, the module does nothing.
"""

import atexit
import gc
import os
import sys
from multiprocessing import forkserver


def _preloaded_by_forkserver() -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


if _preloaded_by_forkserver():
    gc.freeze()
    atexit.register(os._exit, 0)  # registered last, so it runs first: no other handler has work in a forkserver
