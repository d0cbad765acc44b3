"""Named kill points (failpoints, as in etcd or FoundationDB) for the crash tests of tests/faults and
benchmarks/crash_injection.py.

A job calls :func:`checkpoint` at each step of :data:`POINTS`: between the commits of a multi-statement job, where a
kill would leave the most half-done. With ``MOLPIPE_FAULT_AT=<point>`` (or ``<point>:<k>``, the k-th time it is
reached) the job SIGKILLs its own process group there, as a preempted node or the OOM killer would: no ``finally``
runs. The tests start each job in a session of its own (``start_new_session=True``) and run the command again
afterwards; ``MOLPIPE_FAULT_LOG=<file>`` appends each point reached to the file, so the tests find what a command
passes through. With neither variable set a checkpoint is two dictionary lookups. docs/data-and-tables.md lists the
points ("If a job is killed") and what a rerun does at each.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

AT = "MOLPIPE_FAULT_AT"
LOG = "MOLPIPE_FAULT_LOG"

POINTS: dict[str, str] = {
    "ingest.staged": "the file is in Parquet staging; nothing committed",
    "ingest.raw_written": "library_raw holds the load; no loads row yet",
    "featurize.specs_registered": "featurizer_specs merged; no slice processed",
    "featurize.staged": "a slice is standardized and featurized in staging; nothing committed",
    "featurize.quarantine_merged": "a slice's rejected rows merged into quarantine",
    "featurize.sources_merged": "a slice's accepted rows merged into molecule_sources",
    "featurize.features_appended": "a slice's new feature rows appended; molecules not merged yet",
    "featurize.molecules_merged": "a slice's molecules merged: the slice is complete",
    "featurize.loads_updated": "loads marked featurized",
    "split.deleted": "the split's earlier rows deleted; the new ones not appended yet",
    "score.staged": "the pool scored into staging; nothing committed",
    "score.run_deleted": "a re-run's earlier candidates deleted; the new ones not appended yet",
    "score.written": "the run's candidates written; its MLflow run not ended",
    "lab.results_merged": "lab_results merged; the split not updated yet",
    "lab.split_updated": "measured molecules moved into the split's train",
    "landing.processed": "a file's command finished; the file not moved out yet",
    "train.registered": "a model version registered; no model card, no alias yet",
    "promote.history_pushed": "the previous champion pushed onto the history tag; champion not moved",
    "promote.champion_moved": "champion moved to the challenger; the challenger alias not removed",
}

_reached: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    """Step ``name`` of :data:`POINTS` is done: log it or die here when a crash test asks for it."""
    if AT in os.environ or LOG in os.environ:
        _hit(name)


def _hit(name: str) -> None:
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; see molpipe.runtime.faults.POINTS")
    _reached[name] += 1
    if os.environ.get(LOG):
        with open(os.environ[LOG], "a") as log:
            log.write(f"{name}\n")
    point, _, nth = os.environ.get(AT, "").partition(":")
    if point == name and _reached[name] == int(nth or 1):
        os.killpg(os.getpgid(0), signal.SIGKILL)
