"""What the bundle's jobs stand on, without Spark: task values from a command's summary, landing folders, and the
progress lines of their logs."""

from pathlib import Path

import pytest

from molpipe.databricks import task_values
from molpipe.ingest.landing import process_landing
from molpipe.runtime.progress import pace


class FakeTaskValues:
    def __init__(self):
        self.values = {}

    def set(self, key, value):
        self.values[key] = value


class FakeDbutils:
    def __init__(self):
        self.jobs = type("Jobs", (), {"taskValues": FakeTaskValues()})()


def test_a_summarys_scalars_become_task_values():
    dbutils = FakeDbutils()
    summary = {
        "run_id": "abc",
        "version": "3",
        "passed": True,
        "scored": 120,
        "seconds": 1.5,
        "top": [{"rank": 1}],
        "task": {"kind": "classification"},
        "alias": None,
        "huge": "x" * 50_000,
    }
    published = task_values.publish(summary, dbutils)
    assert published == {"run_id": "abc", "version": "3", "passed": True, "scored": 120, "seconds": 1.5}
    assert dbutils.jobs.taskValues.values == published


def test_nothing_is_published_outside_databricks(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert task_values.publish({"version": "3"}) == {}


def drop(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"contents of {name}\n")


def test_landing_hands_each_file_on_once_and_moves_it_out_of_the_watched_folder(tmp_path):
    landing = tmp_path / "landing" / "library"
    drop(landing, "b.csv", "a.csv", "bad.csv", ".hidden", "_in_progress.csv")
    seen = []

    def run(path: Path):
        seen.append(path.name)
        if path.name == "bad.csv":
            raise ValueError(f"{path.name}: no column 'smiles'")
        return {"rows_read": 1}

    summary = process_landing(landing, "ingest", run)
    assert seen == ["a.csv", "b.csv", "bad.csv"]  # name order; hidden and in-progress files left alone
    assert (summary.processed, summary.failed) == (2, 1)
    assert sorted(p.name for p in landing.iterdir()) == [".hidden", "_in_progress.csv"]
    processed, failed = tmp_path / "landing" / "_processed" / "library", tmp_path / "landing" / "_failed" / "library"
    assert sorted(p.name for p in processed.iterdir()) == ["a.csv", "b.csv"]
    assert (failed / "bad.csv.error.txt").read_text() == "molpipe ingest: bad.csv: no column 'smiles'\n"
    assert summary.files[0] == {
        "file": "a.csv",
        "status": "processed",
        "moved_to": str(processed / "a.csv"),
        "summary": {"rows_read": 1},
    }
    # the same name landing again is kept beside the first, and a second run sees only what is new
    drop(landing, "a.csv")
    again = process_landing(landing, "ingest", run)
    assert again.processed == 1 and (processed / "1-a.csv").is_file() and seen[-1] == "a.csv"
    assert process_landing(landing, "ingest", run).files == []


def test_a_missing_landing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="landing folder"):
        process_landing(tmp_path / "nope", "ingest", lambda p: {})


def test_progress_reads_per_second_or_seconds_each():
    assert pace(35_264, 20.0) == "1,763/s"  # molecules
    assert pace(2, 510.0) == "255 s each"  # calibration fold models
    assert pace(0, 60.0) == "none done yet"  # the minute's heartbeat before the first model
