"""Progress of long jobs: a bar on a terminal, a line every few seconds in a job log.

Work done inside UDFs reports with :func:`advance`. Under embedded Sail the UDFs run in this process, so the
driver's :func:`track` sees the counts; on a cluster the counts stay in the executors (their logs have Spark's
own task progress) and the driver prints only its start and end lines.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_done = 0


def advance(n: int) -> None:
    global _done
    with _lock:
        _done += n


def _count() -> int:
    with _lock:
        return _done


def pace(done: int, elapsed: float) -> str:
    """Per second for fast work (molecules), seconds each for slow work (models), so neither reads "0/s"; a
    heartbeat before the first unit says so."""
    if not done:
        return "none done yet"
    if done < elapsed:
        return f"{elapsed / done:,.0f} s each"
    return f"{done / max(elapsed, 1e-9):,.0f}/s"


@contextmanager
def track(label: str, total: int | None = None, unit: str = "rows", every: float = 10.0) -> Iterator[None]:
    """Report :func:`advance` calls made while the block runs."""
    start_count, start = _count(), time.monotonic()
    stop = threading.Event()
    interactive = sys.stderr.isatty()
    bar = None
    if interactive:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=label, unit=f" {unit}", file=sys.stderr, dynamic_ncols=True)

    def report() -> None:
        shown, printed_at = 0, time.monotonic()
        while not stop.wait(0.5 if interactive else every):
            done = _count() - start_count
            if bar is not None:
                bar.update(done - shown)
            elif done != shown or time.monotonic() - printed_at >= 60:  # new counts, or a heartbeat a minute
                elapsed = time.monotonic() - start
                of = f"/{total:,}" if total else ""
                print(
                    f"[molpipe] {label}: {done:,}{of} {unit} in {elapsed:,.0f} s ({pace(done, elapsed)})",
                    file=sys.stderr,
                    flush=True,
                )
                printed_at = time.monotonic()
            shown = done
        if bar is not None:
            bar.update(_count() - start_count - shown)
            bar.close()

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
