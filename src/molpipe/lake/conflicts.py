"""Retrying a Delta commit that a concurrent commit made conflict.

Delta Lake's optimistic concurrency lets two writers work on one table at once and fails the second commit when the
first changed what the second read (Apache Spark and Databricks: ``ConcurrentAppendException`` and its siblings;
Sail: "Failed to commit transaction"). Nothing of the failed statement is committed, and every write molpipe makes
is one statement keyed on what it writes, so running the statement again against the new version is exactly what
the user would do by hand. Measured on both local engines (docs/data-and-tables.md#running-jobs-at-the-same-time):
two processes merging into one table lose nothing and duplicate nothing, but a third to a half of the statements
fail without the retry.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Callable, TypeVar

from molpipe.config import ConcurrencyOptions, env_name

T = TypeVar("T")


class Busy(Exception):
    """Another job holds what this one needs (a table it kept committing to, or a job lock: see
    :mod:`molpipe.runtime.locks`): the user's to resolve by waiting, so it is one line and exit status 2, and a
    landing file it was working on stays pending."""


MAX_PAUSE_S = 30.0
# what the engines say when a commit lost a race: Delta's exception names and error classes (Apache Spark,
# Databricks), delta-rs's and Sail's messages
SIGNS = (
    "io.delta.exceptions.Concurrent",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
    "Failed to commit transaction",
    "Missing commit file",
    "Transaction conflict",
)


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a commit that lost to a concurrent one (and so may simply be run again)."""
    text = f"{type(exc).__name__}: {exc}"
    return any(sign in text for sign in SIGNS)


def retrying(
    statement: Callable[[], T],
    *,
    what: str,
    options: ConcurrencyOptions,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``statement()``, run again after a commit conflict, up to ``options.commit_retries`` times with a random
    wait of up to ``commit_backoff_s`` doubled at each attempt (full jitter: writers that collided once do not
    collide again in step). ``what`` names the statement and table in the messages."""
    if options.commit_retries < 0 or options.commit_backoff_s < 0:
        bad = "commit_retries" if options.commit_retries < 0 else "commit_backoff_s"
        raise ValueError(f"concurrency.{bad} is negative ({env_name('concurrency.' + bad)})")
    attempt = 0
    while True:
        try:
            return statement()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            attempt += 1
            if attempt > options.commit_retries:
                first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                raise Busy(
                    f"{what}: concurrent commits by another job conflicted {attempt} times in a row ({first}); "
                    f"run it again when the other job has finished, or allow more retries "
                    f"({env_name('concurrency.commit_retries')})"
                ) from None
            pause = random.uniform(0, min(options.commit_backoff_s * 2 ** (attempt - 1), MAX_PAUSE_S))
            print(
                f"[molpipe] {what}: a concurrent commit conflicted; retry {attempt}/{options.commit_retries} "
                f"in {pause:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            sleep(pause)
