"""The kill points: one registry (molpipe.runtime.faults.POINTS) that the jobs' checkpoint calls and the crash tests
share, so a new point is tested by tests/faults and benchmarks/crash_injection.py as soon as a job passes it."""

import re
from pathlib import Path

import pytest

from molpipe.runtime import faults

SRC = Path(faults.__file__).parents[1]


def test_every_checkpoint_in_the_jobs_is_registered_and_every_registered_point_is_used():
    used = {
        name
        for path in SRC.rglob("*.py")
        for name in re.findall(r'checkpoint\("([^"]+)"\)', path.read_text())
        if path.name != "faults.py"
    }
    assert used == set(faults.POINTS)


def test_a_checkpoint_does_nothing_unless_a_crash_test_asks(monkeypatch, tmp_path):
    monkeypatch.delenv(faults.AT, raising=False)
    monkeypatch.delenv(faults.LOG, raising=False)
    faults.checkpoint("no.such.point")  # unarmed: not even the name is looked at
    log = tmp_path / "points.log"
    monkeypatch.setenv(faults.LOG, str(log))
    monkeypatch.setenv(faults.AT, "ingest.staged:1000")  # a kill on a later passage: this process lives on
    faults.checkpoint("ingest.staged")
    faults.checkpoint("split.deleted")
    assert log.read_text().split() == ["ingest.staged", "split.deleted"]
    with pytest.raises(ValueError, match="unknown fault point"):
        faults.checkpoint("ingest.stagged")


def test_the_docs_list_every_point():
    docs = (SRC.parents[1] / "docs" / "data-and-tables.md").read_text()
    assert [name for name in faults.POINTS if f"| `{name}` |" not in docs] == []
