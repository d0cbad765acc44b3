"""Jobs killed mid-run (SIGKILL of their process group) and run again lose and duplicate nothing: a few named kill
points here, every point and a time sweep per command under ``pytest -m faults`` (deselected by default; the table
of it: benchmarks/crash_injection.py). The scenarios, kills and checks are the benchmark's."""

import shutil
import signal
import sys
from pathlib import Path

import pytest

from molpipe.runtime import faults

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import crash_injection as crash  # noqa: E402

pytestmark = pytest.mark.cli

# one point per multi-statement job, each where a kill leaves the most half-done: raw rows without their loads row;
# a slice's features appended but not its molecules (the middle slice of three); a re-run's candidates deleted but
# not appended again (train's points, some 25 s a trial, are in the sweep only)
FAST = [
    ("ingest", "ingest.raw_written:1"),
    ("featurize", "featurize.features_appended:2"),
    ("score --run-id", "score.run_deleted:1"),
]


@pytest.fixture(scope="module")
def templates(spark, scored_home, tmp_path_factory):
    """The benchmark's templates ``empty`` and ``ingested``; ``scored``: conftest's :func:`scored_home` (the same
    state: HIV featurized and split, an fp-mlp champion, a scoring run), which other tests build anyway."""
    root = tmp_path_factory.mktemp("crash")
    built = crash.build_templates(spark, root, ["ingested"])
    home, summaries = scored_home
    shutil.copytree(home, root / "scored" / "home")
    (root / "scored" / "scoring_run_id").write_text(summaries["hiv"].run_id)
    return {**built, "scored": root / "scored"}


@pytest.mark.parametrize("name, point", FAST, ids=[point for _, point in FAST])
def test_a_job_killed_at_a_named_point_recovers_when_run_again(name, point, templates, spark, tmp_path):
    scenario = crash.SCENARIOS[name]
    work = crash.fresh(templates[scenario.template], tmp_path / "work")
    killed = crash.run(scenario, work, env={faults.AT: point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert crash.recover(scenario, work, spark) == []


@pytest.fixture(scope="module")
def all_templates(spark, tmp_path_factory):
    return crash.build_templates(spark, tmp_path_factory.mktemp("crash-all"), crash.TEMPLATES)


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("name", crash.SCENARIOS)
def test_every_kill_point_and_moment_recovers(name, all_templates, spark, tmp_path):
    scenario = crash.SCENARIOS[name]
    trials = list(crash.sweep(scenario, all_templates[scenario.template], spark, scratch=tmp_path))
    assert [(t.kill, t.problems) for t in trials if t.problems] == []
