"""Fan a UDF's batch out over worker processes.

Why this exists: Sail executes Python UDFs inside one interpreter (partitions run on threads that share the GIL),
so RDKit work in ``mapInPandas`` would use one core. :func:`map_chunks` splits a batch into chunks and runs them on
a process pool shared by all partition threads; with ``workers <= 1`` (Databricks, whose Python workers are
already one per core) it runs in-line and no pool is ever created.

The pool uses the ``forkserver`` start method: forking a process that hosts Sail's multi-threaded Rust runtime is
unsafe, and ``spawn`` would pay the RDKit import for every worker. Scripts that call molpipe therefore need the
usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

from molpipe import progress

T = TypeVar("T")
R = TypeVar("R")

_PRELOAD = ["molpipe.featurize", "molpipe.chem.standardize"]
_lock = threading.Lock()
_pools: dict[int, Executor] = {}


def map_chunks(fn: Callable[[Sequence[T]], list[R]], items: Sequence[T], workers: int, chunk_size: int) -> list[R]:
    """``fn`` over ``items`` in chunks, results concatenated in order; each finished chunk counts towards
    :func:`molpipe.progress.advance`. ``fn`` must be picklable (a module-level function or an instance of a
    module-level class) taking a list and returning a list."""
    chunks = [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]
    parts = map(fn, chunks) if workers <= 1 or len(chunks) <= 1 else _pool(workers).map(fn, chunks)
    results: list[R] = []
    for chunk, part in zip(chunks, parts):
        results.extend(part)
        progress.advance(len(chunk))
    return results


def _pool(workers: int) -> Executor:
    with _lock:
        if workers not in _pools:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _pools[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        return _pools[workers]


def shutdown_pools() -> None:
    with _lock:
        for pool in _pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        _pools.clear()


atexit.register(shutdown_pools)
