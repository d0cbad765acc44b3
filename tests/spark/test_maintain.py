"""`molpipe maintain` on a library grown in several loads: fewer files, the same rows, OPTIMIZE in the history, a
second run that changes nothing, and the job entry point on one library's partitions only, with a killed job's
leftovers vacuumed. Under ``--engine spark`` through Delta's SQL commands, on embedded Sail through ``deltalake``."""

import os
import shutil
import time

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from molpipe.config import MaintainOptions
from molpipe.featurize import parse_featurizers
from molpipe.featurize.job import featurize
from molpipe.ingest.job import ingest
from molpipe.lake.maintain import maintain

pytestmark = pytest.mark.spark
KEYS = ("library", "featurizer", "spec", "inchikey")


@pytest.fixture(scope="module")
def grown_home(build_home, data_dir, tmp_path_factory):
    """A home to copy: HIV's and ESOL's samples each ingested and featurized in two loads, so that every partition
    of ``features`` holds a file per featurize round (compacting one library must leave the other's two files)."""
    parts = tmp_path_factory.mktemp("parts")

    def steps(catalog):
        for library, source in (("hiv", "hiv_sample.csv"), ("esol", "esol_sample.csv")):
            header, *rows = (data_dir / source).read_text().splitlines()
            for part in range(2):
                path = parts / f"{library}_{part}.csv"
                path.write_text("\n".join([header, *rows[part::2]]) + "\n")
                ingest(catalog, path=path, library=library)
                featurize(catalog, library=library, featurizers=parse_featurizers("morgan:n_bits=256"), workers=1)

    return build_home("grown", prepare=steps)[0]


@pytest.fixture
def grown(grown_home, copy_home):
    return copy_home(grown_home)


@pytest.fixture
def engine_kind(engine_name):
    return "spark" if engine_name == "spark" else "embedded"


def features(catalog):
    return catalog.read("features").select(*KEYS, "values", "computed_at").orderBy(*KEYS).collect()


def active_files(catalog) -> int:
    return len(DeltaTable(str(catalog.path("features"))).file_uris())


def files_per_library(catalog) -> dict[str, int]:
    actions = pa.table(DeltaTable(str(catalog.path("features"))).get_add_actions(flatten=True))
    libraries = actions["partition.library"].to_pylist()
    return {library: libraries.count(library) for library in ("hiv", "esol")}


def test_compaction_keeps_the_rows_and_a_second_run_changes_nothing(grown, engine_kind):
    """On ``features`` alone, the table that grows by a file per round: the job's test below maintains every table
    of the home (on Apache Spark each table's commands are some 10 s, and this test runs maintenance twice)."""
    catalog = grown
    for table in catalog.path("features").parent.iterdir():
        if table.name != "features":
            shutil.rmtree(table)
    rows = features(catalog)
    on_disk = active_files(catalog)
    summary = maintain(catalog, engine_kind=engine_kind, options=MaintainOptions())
    assert summary.method == ("sql" if engine_kind == "spark" else "deltalake")
    assert [t.table for t in summary.tables] == ["features"]
    assert {"molecules", "candidates", "splits", "selections"} <= set(summary.absent)
    table = {t.table: t for t in summary.tables}
    done = table["features"]
    assert (done.files_before, done.files_after) == (on_disk, active_files(catalog))
    assert done.files_before > done.files_after == 2  # one per partition (library, featurizer)
    assert 0 < done.bytes_after
    assert "OPTIMIZE" in [op["operation"] for op in done.operations]
    assert "OPTIMIZE" in [entry["operation"] for entry in DeltaTable(str(catalog.path("features"))).history(5)]
    assert done.history_before[0]["version"] == done.version_before < done.version_after
    assert done.removed_by_vacuum == 0  # the replaced files are younger than the retention: older versions read them
    assert features(catalog) == rows
    assert catalog.read_version("features", done.version_before).count() == len(rows)

    again = {t.table: t for t in maintain(catalog, engine_kind=engine_kind, options=MaintainOptions()).tables}
    assert (again["features"].files_before, again["features"].files_after) == (done.files_after, done.files_after)
    assert all(op["operation"] != "OPTIMIZE" for t in again.values() for op in t.operations)
    assert features(catalog) == rows


def test_the_job_compacts_one_library_and_vacuums_a_killed_jobs_leftovers(
    grown, run_job_script, monkeypatch, engine_name, job_engine
):
    catalog, home = grown, grown.settings.home_path
    before = files_per_library(catalog)
    leftover = next((catalog.path("features") / "library=esol").glob("featurizer=*")) / "part-killed-job.parquet"
    leftover.write_bytes(b"PAR1")
    month_ago = time.time() - 30 * 86400
    os.utime(leftover, (month_ago, month_ago))
    monkeypatch.setenv("MOLPIPE_HOME", str(home))
    monkeypatch.setenv("MOLPIPE_MAINTAIN__RETENTION_HOURS", "24")
    code, summary, _, err = run_job_script("maintain", "--json")
    assert code == 2 and "maintain.retention_hours=24 is outside 168-720" in err
    monkeypatch.setenv("MOLPIPE_MAINTAIN__RETENTION_HOURS", "336")
    code, summary, _, err = run_job_script("maintain", "--library", "hvi", "--json")
    assert code == 2 and "library 'hvi' has no loads" in err

    code, summary, published, _ = run_job_script("maintain", "--library", "hiv", "--json")
    assert code == 0 and published["retention_hours"] == 336 and published["library"] == "hiv"
    assert summary["method"] == ("sql" if engine_name == "spark" else "deltalake")
    after = files_per_library(catalog)
    assert after["hiv"] < before["hiv"] and after["esol"] == before["esol"]
    maintained = {t["table"]: t for t in summary["tables"]}
    assert "featurizer_specs" not in maintained and "featurizer_specs" not in summary["absent"]  # no library partitions
    features = maintained["features"]
    assert features["files_after"] < features["files_before"]
    assert [op["operation"] for op in features["operations"]][:2] == ["SET TBLPROPERTIES", "OPTIMIZE"]
    assert features["removed_by_vacuum"] == 1 and not leftover.exists()  # 30 days old, past the 14 days kept
    assert DeltaTable(str(home / "warehouse" / "features")).metadata().configuration == {
        "delta.deletedFileRetentionDuration": "interval 336 hours"
    }
