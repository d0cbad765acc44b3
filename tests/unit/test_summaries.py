"""What each command prints without --json is its summary's own describe(): the texts, from summaries built here."""

from molpipe.config import ScoreOptions
from molpipe.featurize.job import FeaturizeSummary
from molpipe.ingest.job import IngestSummary
from molpipe.ingest.landing import LandingSummary
from molpipe.lab.results import ResultsSummary
from molpipe.lab.select import SelectSummary
from molpipe.monitor.job import MonitorSummary
from molpipe.registry.lifecycle import AliasChange, ValidationResult
from molpipe.score.job import ScoreSummary, translate_engine_error
from molpipe.split.job import SplitSummary
from molpipe.train.job import TrainSummary
from molpipe.train.pretrain import PretrainSummary
from molpipe.train.tune import TuneSummary

TRAINED = TrainSummary(
    "run1",
    "e1",
    "lib_gnn",
    "3",
    "challenger",
    "gnn",
    {"kind": "classification", "labels": ["a", "b"]},
    "s1",
    {"train": 1},
    {"roc_auc": 0.81234, "pr_auc": 0.3},
    4,
    2,
    "driver",
    [],
    True,
    {},
    123.4,
)


def test_ingest_says_what_it_loaded_or_that_the_file_was_loaded_before():
    loaded = IngestSummary("lib", "L1", "/x/a.csv", "csv", "smiles", 12345, 3, False)
    assert loaded.describe() == (
        "ingested 12,345 rows from /x/a.csv into library 'lib' (load L1, csv, structure column 'smiles', "
        "3 malformed rows kept for quarantine)"
    )
    again = IngestSummary("lib", "L1", "/x/a.csv", "csv", "smiles", 12345, 3, True)
    assert again.describe() == "/x/a.csv is already in library 'lib' (load L1): nothing added"


def test_landing_counts_the_files_through_its_command():
    summary = LandingSummary("/v/landing/lib", "ingest-results", processed=2, failed=1)
    assert summary.describe() == "/v/landing/lib: 2 file(s) through `molpipe ingest-results`, 1 failed"


def test_featurize_accounts_for_every_row_read():
    summary = FeaturizeSummary(
        "lib",
        ["L1", "L2"],
        1500,
        1200,
        200,
        100,
        {"malformed_row": 60, "too_large": 40},
        {"morgan": 1200, "maccs": 1200},
        0,
        5000,
    )
    assert summary.describe().splitlines() == [
        "library 'lib': 1,500 rows read from 2 new load(s)",
        "  molecules (new):     1,200",
        "  duplicates merged:   200",
        "  quarantined:         100",
        "    malformed_row           60",
        "    too_large               40",
        "  accounted for:       1,500 of 1,500 rows (all)",
        "  features computed:   morgan 1,200, maccs 1,200",
        "  molecules in library: 5,000",
    ]
    short = FeaturizeSummary("lib", [], 10, 5, 1, 1, {}, {}, 0, 5).describe()
    assert "7 of 10 rows (MISMATCH)" in short and "features computed:   none" in short


def test_split_lists_its_counts_and_why_the_pool_holds_them():
    summary = SplitSummary(
        "lib",
        "scaffold-s0-p0.1",
        "scaffold",
        0,
        {"train": 8000, "pool": 1234},
        {"unlabeled": 100, "held_out": 1134},
        {},
    )
    assert summary.describe() == (
        "split 'scaffold-s0-p0.1' of 'lib': train 8,000, pool 1,234 (pool: unlabeled 100, held_out 1,134)"
    )
    assert SplitSummary("lib", "r", "random", 0, {"train": 1}, {}, {}).describe().endswith("(pool: none)")


def test_training_tuning_and_pretraining_name_the_model_they_made():
    assert TRAINED.describe().splitlines() == [
        "trained gnn (classification, a, b) in 123 s with 2 process(es): test roc_auc 0.8123, pr_auc 0.3000",
        "registered lib_gnn v3 as 'challenger' (run run1)",
    ]
    tuned = TuneSummary("p1", 20, "roc_auc", 0.8123456, {"hidden": 128}, TRAINED, 500.0)
    assert tuned.describe().splitlines()[0] == "20 trials (parent run p1): best roc_auc 0.8123 with {'hidden': 128}"
    assert tuned.describe().endswith(TRAINED.describe())
    pretrained = PretrainSummary("lib", "/out/p", "r1", 12345, 60, 1234567, 3, 1.23456, 99.6)
    assert pretrained.describe().splitlines() == [
        "pretrained a 1,234,567-parameter RoBERTa on 12,345 SMILES of 'lib' (vocabulary 60, valid MLM loss 1.235) "
        "in 100 s -> /out/p",
        "train on it: molpipe train --library lib --model chemberta --param pretrained=/out/p",
    ]


def test_validation_gives_the_verdict_and_alias_changes_where_the_champion_went():
    passed = ValidationResult("m", "3", "2", True, "roc_auc", {"roc_auc": 0.8}, {"roc_auc": 0.7}, [], 100)
    assert passed.describe() == "m challenger v3: roc_auc 0.8000 vs champion v2 0.7000 on 100 test molecules: PASSED"
    failed = ValidationResult("m", "3", None, False, "roc_auc", {}, reasons=["too low", "worse"], test_molecules=100)
    assert failed.describe() == "m challenger v3: roc_auc nan on 100 test molecules: FAILED: too low; worse"
    assert AliasChange("m", "3", "2", "promote").describe() == "m: champion is now v3 (was 2)"
    assert AliasChange("m", "3", None, "promote").describe() == "m: champion is now v3 (was none)"
    assert AliasChange("m", "2", "3", "rollback").describe() == "m: champion rolled back to v2 (was v3)"


def test_scoring_shows_its_run_and_top_candidates():
    top = [
        {
            "rank": 1,
            "prediction": 0.912345,
            "uncertainty": None,
            "ad_similarity": 0.55,
            "acquisition_score": 1.0,
            "smiles": "CCO",
        }
    ]
    summary = ScoreSummary(
        "r1", "lib", "m", "3", "champion", "y", "s1", "s2", "ucb", "ensemble", 12345, 12300, 45, "drug-like", 4100,
        12.3, top, "candidates",
    )  # fmt: skip
    assert summary.describe().splitlines() == [
        "scored 12,300 of 12,345 pool molecules of lib with m v3 (y; ensemble uncertainty, ucb acquisition) in 12 s; "
        "45 failed (quarantined); 4,100 pass the drug-like filters",
        "scoring run r1 -> candidates",
        "top candidates:",
        "  rank  prediction  uncertainty  AD sim  acquisition  SMILES",
        "     1       0.912        0.000    0.55        1.000  CCO",
    ]


def test_an_engine_memory_pool_too_small_names_the_settings_and_nothing_else_is_translated():
    refused = RuntimeError("  Failed to allocate 5 bytes for the total memory pool of 1 MB\nthe engine's trace\n")
    translated = translate_engine_error(refused, options=ScoreOptions(engine_memory_mb=1))
    assert isinstance(translated, ValueError) and str(translated) == (
        "the scoring engine's memory pool (1 MB) is too small for this pool: raise MOLPIPE_SCORE__ENGINE_MEMORY_MB "
        "(0: unbounded) or lower MOLPIPE_SCORE__SLICE_ROWS "
        "(Failed to allocate 5 bytes for the total memory pool of 1 MB)"
    )
    assert translate_engine_error(RuntimeError("something else"), options=ScoreOptions()) is None


def test_the_lab_batch_and_the_results_say_where_they_went():
    files = {"csv": "/r/b.csv", "html": "/r/b.html"}
    exclusions = {"alert:brenk": 120, "mol_weight>500": 40}
    batch = SelectSummary("b1", "r1", "lib", "ucb", "sphere", 24, 24, "drug-like", 400, exclusions, files)
    assert batch.describe().splitlines() == [
        "batch b1: 24 molecules by ucb (sphere diversity, drug-like filters)",
        "  400 best candidates considered; exclusions by reason: alert:brenk 120, mol_weight>500 40",
        "  /r/b.csv",
        "  /r/b.html",
    ]
    results = ResultsSummary("lib", "L9", "/x/r.csv", 50, 48, 40, 5, 2, "s1", 30, 5, False)
    assert results.describe() == (
        "/x/r.csv: 50 rows, 48 measurements of 40 molecules (5 new, 2 quarantined); split s1: 30 moved from pool to "
        "train, 5 added to train"
    )


def test_monitoring_gives_each_runs_verdict():
    def run(name, drifted, retrain, reasons):
        return {
            "scoring_run_id": name,
            "library": "lib",
            "scored": 12345,
            "model_name": "m",
            "model_version": "3",
            "drifted": drifted,
            "retrain": retrain,
            "reasons": reasons,
            "report": f"/p/{name}.png",
        }

    runs = [run("r1", True, True, ["psi high", "ad low"]), run("r2", True, False, ["psi"]), run("r3", False, False, [])]
    assert MonitorSummary(3, True, True, runs=runs, table="monitoring").describe().splitlines() == [
        "scoring run r1 (lib, 12,345 molecules, m v3): RETRAIN: psi high; ad low",
        "  report /p/r1.png",
        "scoring run r2 (lib, 12,345 molecules, m v3): DRIFTED (no new training data): psi",
        "  report /p/r2.png",
        "scoring run r3 (lib, 12,345 molecules, m v3): stable",
        "  report /p/r3.png",
        "3 run(s) monitored -> monitoring",
    ]
    assert MonitorSummary(0, False, False).describe() == "every scoring run is monitored already"
