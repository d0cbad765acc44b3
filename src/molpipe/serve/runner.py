"""Where predictions run: on a pool of worker processes that each hold the model, or in the server process.

A prediction is RDKit standardization and featurization (for a model with the RDKit 2D block, 217 descriptors:
most of the CPU) and a small torch forward pass. :class:`PoolRunner` (``serve.workers`` = 0, the default: one
process per core; or N) gives each worker process the model, loaded once by the pool's initializer, and cuts a
batch into one chunk per worker; each worker predicts on one thread, free of the server's GIL. :class:`InlineRunner`
(``serve.workers = 1``) runs predictions on ``serve.threads`` threads in the server process: one copy of the model
and an instant hot swap, but the threads share one GIL (RDKit releases it only for part of its work), so it is the
slower of the two, as ``mlflow models serve`` is (the figures: docs/performance.md#serving).

Both turn SMILES into plain rows (:func:`predict_rows`), never raise for a molecule, and are driven from the
event loop with ``await runner.predict(smiles)``. Only SMILES strings and rows of plain values cross the process
boundary: nothing a client sent is ever unpickled or evaluated.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from molpipe.models.predictor import ModelFolder, load_model_folder, model_dir
from molpipe.serve.batching import BatchingRunner
from molpipe.serve.runner_base import Runner

EXAMPLE_SMILES = "CC(=O)Oc1ccccc1C(=O)O"
WORKER_CRASHED = "worker_crashed"
MODEL_ERROR = "model_error"
# modules the forkserver imports once, so a worker (and every worker of a swapped-in model) starts in a fraction
# of the import time
_PRELOAD = [
    "molpipe.serve.runner",
    "molpipe.models.predictor",
    "molpipe.models.networks",
    "molpipe.featurize",
    "molpipe.chem.standardize",
    "molpipe.runtime.forkserver_freeze",  # last: freezes what the others imported
]
_MIN_CHUNK = 8  # molecules per worker task: smaller batches are not worth splitting


def predict_rows(predictor, smiles: Sequence[str]) -> list[dict[str, Any]]:
    """One plain row per SMILES: ``smiles``, ``standardized_smiles``, ``inchikey``, ``valid``, ``error``,
    ``predictions`` (label -> value) and ``intervals`` (label -> [lower, upper] or None). A failure of the model on
    the whole batch is retried molecule by molecule, so one molecule that breaks the model is reported as that
    molecule's error, not the batch's."""
    try:
        frame = predictor.predict(list(smiles))
    except Exception as exc:  # noqa: BLE001 (whatever the model raises becomes the molecule's error)
        if len(smiles) == 1:
            return [_failed(smiles[0], f"{MODEL_ERROR}: {type(exc).__name__}: {exc}")]
        return [row for one in smiles for row in predict_rows(predictor, [one])]
    labels = predictor.task.labels
    suffixes = [""] if len(labels) == 1 else [f"_{label}" for label in labels]
    rows = []
    for record in frame.to_dict("records"):
        valid = bool(record["valid"])
        rows.append(
            {
                "smiles": record["smiles"],
                "standardized_smiles": record["standardized_smiles"],
                "inchikey": record["inchikey"],
                "valid": valid,
                "error": None if valid else record["error"],
                "predictions": {label: _number(record[f"prediction{x}"]) for label, x in zip(labels, suffixes)}
                if valid
                else {},
                "intervals": {label: _bounds(record, x) for label, x in zip(labels, suffixes)} if valid else {},
            }
        )
    return rows


def _bounds(record: dict[str, Any], suffix: str) -> list[float] | None:
    """The conformal interval of a regression model's prediction; None for a probability (and an old model)."""
    bounds = [_number(record[f"prediction_lower{suffix}"]), _number(record[f"prediction_upper{suffix}"])]
    return None if None in bounds else bounds


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _failed(smiles: str, error: str) -> dict[str, Any]:
    return {
        "smiles": smiles,
        "standardized_smiles": None,
        "inchikey": None,
        "valid": False,
        "error": error,
        "predictions": {},
        "intervals": {},
    }


class InlineRunner(Runner):
    """The model in the server process, predicting on ``threads`` threads (the event loop stays free). The model is
    shared: inference and RDKit's calls on separate molecules are thread-safe (tests compare with one thread)."""

    def __init__(self, model_path: str | Path, threads: int = 1):
        self.predictor = load_model_folder(model_path)
        self.labels = tuple(self.predictor.task.labels)
        self._executor = ThreadPoolExecutor(max_workers=max(threads, 1), thread_name_prefix="molpipe-predict")

    async def predict(self, smiles: Sequence[str]) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, predict_rows, self.predictor, smiles)

    def warm(self) -> None:
        predict_rows(self.predictor, [EXAMPLE_SMILES])

    def close(self) -> None:
        self._executor.shutdown(wait=True)


# the worker process's model, set once by the pool's initializer
_WORKER_PREDICTOR = None


def _init_worker(model_path: str) -> None:
    global _WORKER_PREDICTOR
    import torch

    # a terminal's Ctrl-C reaches every process of its group: the server finishes the requests in flight and then
    # closes the pool, so a worker must not die of it first (its KeyboardInterrupt would fail a request with a 500)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)  # one process per core already; torch's own threads would fight over them
    _WORKER_PREDICTOR = load_model_folder(model_path)


def _worker_predict(smiles: Sequence[str]) -> list[dict[str, Any]]:
    return predict_rows(_WORKER_PREDICTOR, smiles)


def _worker_pid() -> int:
    time.sleep(0.05)  # long enough that one idle worker cannot take every warm-up task
    predict_rows(_WORKER_PREDICTOR, [EXAMPLE_SMILES])
    return os.getpid()


class PoolRunner(Runner):
    """The model in ``workers`` processes (``forkserver``: the server's threads are never forked).

    A worker that dies (a native crash in RDKit or torch on some input) breaks the pool: the pool is rebuilt and
    each chunk it took down is retried once on the new pool; a chunk that kills a worker again is answered with
    ``worker_crashed`` errors for its molecules instead of failing the request."""

    def __init__(self, model_path: str | Path, workers: int, labels: Sequence[str] | None = None):
        self.model_path = str(model_path)
        self.workers = workers
        self.labels = tuple(labels) if labels is not None else _read_labels(self.model_path)
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init_worker, initargs=(self.model_path,)
        )

    def _chunks(self, smiles: Sequence[str]) -> list[list[str]]:
        size = max(_MIN_CHUNK, math.ceil(len(smiles) / self.workers))
        return [list(smiles[i : i + size]) for i in range(0, len(smiles), size)]

    async def predict(self, smiles: Sequence[str]) -> list[dict[str, Any]]:
        parts = await asyncio.gather(*(self._predict_chunk(chunk) for chunk in self._chunks(smiles)))
        return [row for part in parts for row in part]

    async def _predict_chunk(self, chunk: list[str]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            executor = self._executor
            try:
                return await loop.run_in_executor(executor, _worker_predict, chunk)
            except BrokenProcessPool:
                self._replace_broken(executor)
        return [_failed(s, f"{WORKER_CRASHED}: the model's worker process died on this input") for s in chunk]

    def _replace_broken(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is broken:  # the first request to notice replaces it; the others reuse the new one
                self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def worker_pids(self) -> list[int]:
        processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def warm(self, timeout_s: float = 300.0) -> None:
        seen: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(seen) < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)} of {self.workers} model workers started in {timeout_s:.0f} s")
            futures = [self._executor.submit(_worker_pid) for _ in range(self.workers)]
            seen.update(f.result(timeout=max(1.0, deadline - time.monotonic())) for f in futures)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _read_labels(model_path: str) -> tuple[str, ...]:
    """The model's labels without loading it in this process (the workers load it)."""
    folder = model_dir(model_path)
    if folder is None:
        return tuple(load_model_folder(model_path).task.labels)
    return ModelFolder.read(folder).task.labels


def make_runner(model_path: str | Path, workers: int, threads: int = 1, micro_batch: int = 1) -> Runner:
    """``workers`` prediction processes (1: the server process, on ``threads`` threads; 0: one per core); with
    ``micro_batch`` > 1, requests that arrive while all of them are busy share calls of up to that many molecules
    (:mod:`molpipe.serve.batching`)."""
    workers = workers or len(os.sched_getaffinity(0))
    runner = InlineRunner(model_path, threads) if workers <= 1 else PoolRunner(model_path, workers)
    if micro_batch <= 1:
        return runner
    return BatchingRunner(runner, slots=threads if workers <= 1 else workers, max_molecules=micro_batch)
