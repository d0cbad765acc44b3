"""Two jobs at once on one home leave what running them one after the other leaves (or one fails in one line naming
the other): one pair here, every pair at every offset under ``pytest -m faults`` (the table of it:
benchmarks/concurrency.py, whose pairs and checks these are)."""

import sys
from pathlib import Path

import pytest

from molpipe.config import load_settings
from molpipe.runtime import locks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import concurrency  # noqa: E402
import crash_injection as crash  # noqa: E402

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory) -> Path:
    return crash.build_templates(spark, tmp_path_factory.mktemp("concurrency"), ["ingested"])["ingested"]


def test_two_featurize_of_one_library_at_once_leave_what_one_after_the_other_does(ingested, spark, tmp_path):
    # without the library's lock both find the same molecules without features and append them: 470 duplicates
    (trial,) = concurrency.sweep(
        concurrency.PAIRS["featurize + featurize"], ingested, spark, scratch=tmp_path, offsets=[0]
    )
    assert (trial.codes, trial.problems) == ((0, 0), [])
    assert trial.waited


def test_a_job_kept_waiting_too_long_fails_in_one_line_naming_the_other_and_writes_nothing(ingested, spark, tmp_path):
    work = crash.fresh(ingested, tmp_path / "work")
    settings = load_settings(environ={}).replace(home=str(work / "home"))
    with locks.exclusive(settings, "library-hiv", job="featurize"):
        done = crash.run(crash.SCENARIOS["featurize"], work, env={"MOLPIPE_CONCURRENCY__LOCK_WAIT_S": "1"})
    assert done.returncode == 2
    *progress, error = done.stderr.strip().splitlines()
    assert error.startswith("molpipe featurize: error: library-hiv is in use by featurize (pid ")
    assert "MOLPIPE_CONCURRENCY__LOCK_WAIT_S" in error
    assert any("waiting for library-hiv" in line for line in progress)
    catalog, _ = crash.open_home(spark, work)
    assert not catalog.exists("molecules")


@pytest.fixture(scope="module")
def all_templates(spark, tmp_path_factory):
    names = {pair.template for pair in concurrency.PAIRS.values()}
    return crash.build_templates(spark, tmp_path_factory.mktemp("concurrency-all"), names)


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("name", concurrency.PAIRS)
def test_every_pair_at_every_offset_is_serializable(name, all_templates, spark, tmp_path):
    pair = concurrency.PAIRS[name]
    trials = concurrency.sweep(
        pair, all_templates[pair.template], spark, scratch=tmp_path, offsets=[0, 0.25, 0.5, 0.75]
    )
    assert [(t.offset_s, t.codes, t.problems) for t in trials if t.problems] == []
