"""The served model: resolved from the registry, loaded, watched, and swapped without dropping a request.

A background thread asks the registry every ``serve.poll_s`` seconds which version the alias points at. When the
alias has moved (``molpipe promote`` or ``molpipe rollback``), the new version is downloaded and loaded *beside*
the old one, warmed on every worker, and only then swapped in with one assignment. Each request holds a lease on
the model it started with, so it finishes on that model and names that version; the old model is closed once its
last lease is returned. A registry that cannot be reached, or a version that fails to load, leaves the current
model serving.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpipe.registry.card import ModelCard
from molpipe.registry.reference import ModelRef, PinnedModel
from molpipe.serve.runner import Runner, make_runner

log = logging.getLogger("molpipe.serve")


class NotReady(Exception):
    """No model is loaded yet."""


@dataclass
class ServedModel:
    """One loaded version and the requests currently using it."""

    name: str
    version: str
    alias: str | None
    run_id: str | None
    runner: Runner
    path: str
    card: ModelCard | None = None  # None for a pyfunc molpipe did not train
    loaded_at: float = field(default_factory=time.time)
    _leases: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.runner.labels)

    def info(self) -> dict[str, Any]:
        trained = (
            {}
            if self.card is None
            else {"library": self.card.library, "split_id": self.card.split_id, "test_metrics": self.card.test_metrics}
        )
        return {
            "model": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "labels": list(self.labels),
            "loaded_at": self.loaded_at,
            **trained,
        }

    def retire(self, grace_s: float) -> None:
        """Close once every request that started on this model has finished (or after ``grace_s``)."""
        with self._idle:
            self._idle.wait_for(lambda: self._leases == 0, timeout=grace_s)
        self.runner.close()
        shutil.rmtree(self.path, ignore_errors=True)


def download(name: str, version: str) -> str:
    """The version's model files in a fresh local folder."""
    folder = tempfile.mkdtemp(prefix=f"molpipe-serve-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}-v{version}-")
    return PinnedModel.of(name, version).download(Path(folder)).folder


def _card(version) -> ModelCard | None:
    try:
        return ModelCard.of(version)
    except ValueError:
        return None


class ModelStore:
    """Holds the served model and keeps it at the version the reference points to."""

    def __init__(
        self,
        ref: ModelRef,
        workers: int = 1,
        threads: int = 1,
        micro_batch: int = 1,
        poll_s: float = 30.0,
        grace_s: float = 60.0,
        on_swap: Callable[[ServedModel, ServedModel | None], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ):
        self.ref = ref
        self.workers = workers
        self.threads = threads
        self.micro_batch = micro_batch
        self.poll_s = poll_s
        self.grace_s = grace_s  # how long a retired model waits for its last requests
        self.on_swap = on_swap
        self.on_error = on_error
        self.last_error: str | None = None
        self._current: ServedModel | None = None
        self._lock = threading.Lock()
        self._loaded = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> ServedModel | None:
        return self._current

    @contextmanager
    def lease(self) -> Iterator[ServedModel]:
        """The current model, kept open until the block ends even if a new version is swapped in meanwhile."""
        with self._lock:
            served = self._current
            if served is None:
                raise NotReady(self.last_error or f"model {self.ref} is still loading")
            with served._idle:
                served._leases += 1
        try:
            yield served
        finally:
            with served._idle:
                served._leases -= 1
                served._idle.notify_all()

    def refresh(self) -> bool:
        """Ask the registry once; load and swap in a new version if the reference moved. True if swapped."""
        current = self._current
        if current is not None and self.ref.version is not None:
            return False  # a pinned version never moves
        found = self.ref.resolve()
        version, run_id = str(found.version), found.run_id
        if current is not None and current.version == version:
            return False
        started = time.monotonic()
        path = download(self.ref.name, version)
        try:
            runner = make_runner(path, self.workers, self.threads, self.micro_batch)
            try:
                runner.warm()
            except BaseException:
                runner.close()
                raise
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        served = ServedModel(self.ref.name, version, self.ref.alias, run_id, runner, path, _card(found))
        with self._lock:
            if self._stop.is_set():  # stopped while this version was loading: it is never served
                served.retire(0)
                return False
            previous, self._current = self._current, served
        self.last_error = None
        self._loaded.set()
        log.info(
            "model loaded",
            extra={
                "fields": {
                    "event": "model_swap" if previous else "model_load",
                    "model": served.name,
                    "version": version,
                    "alias": served.alias,
                    "previous_version": previous.version if previous else None,
                    "load_s": round(time.monotonic() - started, 2),
                }
            },
        )
        if self.on_swap:
            self.on_swap(served, previous)
        if previous is not None:
            previous.retire(self.grace_s)
        return True

    def start(self) -> None:
        """Load in the background and keep watching; :meth:`wait_ready` blocks until the first model is in."""
        self._thread = threading.Thread(target=self._watch, name="molpipe-model-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 (any failure leaves the current model serving)
                self.last_error = f"loading {self.ref} failed: {type(exc).__name__}: {exc}"
                log.error(
                    "model refresh failed",
                    extra={
                        "fields": {"event": "model_refresh_failed", "model": str(self.ref), "error": self.last_error}
                    },
                )
                if self.on_error:
                    self.on_error(self.last_error)
            if self._current is not None and (self.poll_s <= 0 or self.ref.version is not None):
                return  # nothing to watch
            # until a first model is in, retry every few seconds whatever the poll interval
            delay = self.poll_s if self._current is not None else min(max(self.poll_s, 0.5), 5.0)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.grace_s)
        with self._lock:
            served, self._current = self._current, None
        if served is not None:
            served.retire(self.grace_s)
