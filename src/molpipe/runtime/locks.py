"""One job at a time per library, landing folder or registered model.

Delta Lake makes each commit atomic, and a commit that a concurrent one invalidated fails (and is retried, see
:mod:`molpipe.lake.conflicts`). That is not enough for a job made of several commits that each build on what the job
read first: two ``featurize`` of one library would both find the same molecules without features and both append
them (a blind append never conflicts). So such a job first takes its resource's lock: a file under
``$MOLPIPE_HOME/locks`` held with ``flock(2)``, which the kernel releases when the process ends, a SIGKILL
included, so a killed job never leaves a lock behind. The holder writes who it is into the file; a job that finds
the lock taken says whom it waits for, waits up to ``concurrency.lock_wait_s`` and then fails naming them
(:class:`~molpipe.lake.conflicts.Busy`).

A lock is per machine: on a file system without ``flock`` (some network mounts) the job goes on without one, said
once on stderr, and only Delta's commit conflicts and the scheduler (a bundle job's ``max_concurrent_runs: 1``)
keep runs apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from molpipe.config import Settings, env_name
from molpipe.lake.conflicts import Busy
from molpipe.runtime import owners

_HELD: dict[str, int] = {}  # resource -> depth: a job's own nested steps (landing -> ingest) take it once


@contextmanager
def exclusive(settings: Settings, resource: str, *, job: str) -> Iterator[None]:
    """Hold ``resource`` (``library-hiv``, ``model-hiv_gnn``, ...) for the block, waiting for another job that
    holds it; re-entrant within a process."""
    if _HELD.get(resource):
        _HELD[resource] += 1
        try:
            yield
        finally:
            _HELD[resource] -= 1
        return
    wait_s = settings.concurrency.lock_wait_s
    if wait_s < 0:
        raise ValueError(f"concurrency.lock_wait_s={wait_s} is negative ({env_name('concurrency.lock_wait_s')})")
    folder = settings.home_path / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(resource.encode()).hexdigest()[:10]  # distinct names stay distinct once made file-safe
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', resource)[:80]}-{digest}.lock"
    handle = path.open("a+", encoding="utf-8")
    try:
        if _acquire(handle, path, resource=resource, wait_s=wait_s, job=job):
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_me(job)) + "\n")
            handle.flush()
        _HELD[resource] = 1
        try:
            yield
        finally:
            _HELD.pop(resource, None)
    finally:
        handle.close()  # closing the descriptor releases the lock


def holder(path: Path) -> str:
    """Who holds the lock at ``path``, in words, from what the holder wrote into it."""
    try:
        info = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        pid, _, host = info["owner"].partition("@")
        return f"{info['job']} (pid {pid} on {host}, since {info['since']})"
    except (OSError, ValueError, KeyError, IndexError):  # the holder is between taking the lock and writing
        return "another job"


def _acquire(handle, path: Path, *, resource: str, wait_s: float, job: str) -> bool:
    """Take the lock, waiting up to ``wait_s``; False where the file system has no locks (then none is held)."""
    deadline, pause, told = time.monotonic() + wait_s, 0.1, False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        except OSError as exc:  # ENOLCK, EOPNOTSUPP, ...: a mount without flock (a FUSE or old NFS one)
            print(
                f"[molpipe] {job}: {path.parent} has no file locks ({exc.strerror}); {resource} is not locked",
                file=sys.stderr,
            )
            return False
        if time.monotonic() >= deadline:
            raise Busy(
                f"{resource} is in use by {holder(path)} for longer than concurrency.lock_wait_s ({wait_s:g} s): "
                f"run {job} again when it has finished, or wait longer ({env_name('concurrency.lock_wait_s')})"
            )
        if not told:
            print(f"[molpipe] {job}: waiting for {resource}, in use by {holder(path)}", file=sys.stderr, flush=True)
            told = True
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 2, 2.0)


def _me(job: str) -> dict[str, str]:
    return {"job": job, "owner": owners.me(), "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
