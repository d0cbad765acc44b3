"""The molpipe command as a user runs it: --json summaries on the last line, clear errors, SQL by table name."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cli


def molpipe(home, *args, check=True, env=None):
    env = {**os.environ, "MOLPIPE_HOME": str(home), "MOLPIPE_WORKERS": "1", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "molpipe", *args], capture_output=True, text=True, env=env, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_ingest_featurize_split_sql_with_json(tmp_path, data_dir):
    home = tmp_path / "home"
    path = str(data_dir / "tox21_sample.csv")
    ingested = last_json(molpipe(home, "ingest", path, "--library", "tox", "--label-cols", "NR-AR,SR-p53", "--json"))
    assert ingested["rows_read"] == 150 and ingested["structure_column"] == "smiles"
    featurized = last_json(
        molpipe(home, "featurize", "--library", "tox", "--featurizers", "morgan:n_bits=64,maccs", "--json")
    )
    assert featurized["rows_read"] == 150 and featurized["accounted"] is True
    assert featurized["molecules_new"] + featurized["duplicates"] + featurized["quarantined"] == 150
    assert set(featurized["tables"]) >= {"molecules", "features", "quarantine"}
    split = last_json(molpipe(home, "split", "--library", "tox", "--split", "random", "--seed", "3", "--json"))
    assert sum(split["counts"].values()) == featurized["molecules_new"]
    query = "SELECT split, count(*) AS n FROM splits GROUP BY split ORDER BY split"
    rows = last_json(molpipe(home, "sql", query, "--json"))["rows"]
    assert sum(r["n"] for r in rows) == featurized["molecules_new"]
    text = molpipe(home, "sql", "SELECT count(*) AS n FROM molecules").stdout
    assert str(featurized["molecules_new"]) in text
    tables = {t["table"]: t for t in last_json(molpipe(home, "tables", "--json"))["tables"]}
    assert tables["library_raw"]["rows"] == 150 and tables["molecules"]["version"] >= 1


def test_human_readable_featurize_summary(tmp_path, data_dir):
    home = tmp_path / "home"
    molpipe(home, "ingest", str(data_dir / "bad_rows.csv"), "--library", "bad", "--label-cols", "activity")
    out = molpipe(home, "featurize", "--library", "bad", "--featurizers", "maccs").stdout
    assert "11 rows read" in out and "malformed_row" in out and "too_large" in out and "(all)" in out


def test_missing_column_fails_fast_naming_file_and_column(tmp_path, data_dir):
    result = molpipe(
        tmp_path,
        "ingest",
        str(data_dir / "hiv_sample.csv"),
        "--library",
        "x",
        "--label-cols",
        "pIC50",
        "--json",
        check=False,
    )
    assert result.returncode == 2
    assert "hiv_sample.csv: no column 'pIC50'" in result.stderr
    assert "no column 'pIC50'" in last_json(result)["error"]


def test_unknown_featurizer_is_a_clear_error(tmp_path):
    result = molpipe(tmp_path, "featurize", "--library", "x", "--featurizers", "ecfp4", check=False)
    assert result.returncode == 2 and "unknown featurizer 'ecfp4'" in result.stderr


def test_job_entry_points_take_the_cli_arguments(tmp_path, data_dir):
    env = {**os.environ, "MOLPIPE_HOME": str(tmp_path), "MOLPIPE_WORKERS": "1"}
    args = [sys.executable, "jobs/ingest.py", str(data_dir / "esol_sample.csv"), "--library", "esol", "--json"]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, cwd=data_dir.parents[1])
    assert result.returncode == 0, result.stderr
    assert last_json(result)["rows_read"] == 100


@pytest.mark.slow
def test_multitask_training_with_missing_labels_from_the_command_line(tmp_path, data_dir):
    home = tmp_path / "home"
    labels = "NR-AR,NR-AhR,SR-p53"
    molpipe(home, "ingest", str(data_dir / "tox21_sample.csv"), "--library", "tox21", "--label-cols", labels)
    molpipe(home, "featurize", "--library", "tox21", "--featurizers", "morgan,rdkit2d")
    molpipe(home, "split", "--library", "tox21", "--split", "random", "--pool-fraction", "0.2")
    trained = last_json(
        molpipe(
            home,
            "train",
            "--library",
            "tox21",
            "--model",
            "fp-mlp",
            "--param",
            "hidden=32",
            "--epochs",
            "2",
            "--num-processes",
            "1",
            "--json",
        )
    )
    assert trained["task"] == {"labels": labels.split(","), "kind": "classification"}
    assert trained["model_name"] == "tox21_fp_mlp" and trained["version"] == "1" and trained["run_id"]
    promoted = molpipe(home, "promote", "--model", "tox21_fp_mlp", check=False)
    assert promoted.returncode == 2 and "molpipe validate --model tox21_fp_mlp" in promoted.stderr
    molpipe(home, "promote", "--model", "tox21_fp_mlp", "--force")

    scored = last_json(
        molpipe(
            home,
            "score",
            "--library",
            "tox21",
            "--model",
            "tox21_fp_mlp@champion",
            "--label",
            "SR-p53",
            "--acquisition",
            "ei",
            "--json",
        )
    )
    assert scored["label"] == "SR-p53" and scored["uncertainty"] == "mc-dropout" and scored["scored"] > 0
    assert scored["scored"] == scored["pool"] and scored["top"][0]["rank"] == 1
    picked = last_json(
        molpipe(
            home,
            "select",
            "--run",
            scored["run_id"],
            "--k",
            "5",
            "--strategy",
            "ucb",
            "--out",
            str(tmp_path / "lab"),
            "--json",
        )
    )
    assert picked["selected"] == 5 and os.path.exists(picked["files"]["html"]) and picked["filters"] == "drug-like"
    broken = tmp_path / "alerts.csv"
    broken.write_text("name,smarts\nbroken,C(((\n")
    refused = molpipe(home, "select", "--run", scored["run_id"], "--filters", str(broken), check=False)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"molpipe select: error: {broken}:2: column smarts: not a valid SMARTS pattern with a name: 'C((('"
    ]
    wrong = molpipe(home, "score", "--library", "tox21", "--model", "tox21_fp_mlp", "--label", "NR-X", check=False)
    assert wrong.returncode == 2 and "not 'NR-X'" in wrong.stderr
    starved = molpipe(
        home,
        "score",
        "--library",
        "tox21",
        "--model",
        "tox21_fp_mlp",
        check=False,
        env={"MOLPIPE_SCORE__ENGINE_MEMORY_MB": "1"},
    )
    assert starved.returncode == 2 and "MOLPIPE_SCORE__ENGINE_MEMORY_MB" in starved.stderr, starved.stderr[-2000:]


@pytest.mark.slow
def test_the_spark_engine_from_the_environment_reports_its_start(tmp_path, data_dir):
    """MOLPIPE_ENGINE=spark: the command starts its own Apache Spark Connect server (Delta's jars from the cache
    after the first start), and the --json summary says so; the tables are Delta that plain deltalake reads."""
    from deltalake import DeltaTable

    home = tmp_path / "home"
    env = {"MOLPIPE_ENGINE": "spark", "MOLPIPE_SPARK_MASTER": "local[2]"}
    ingested = last_json(
        molpipe(home, "ingest", str(data_dir / "esol_sample.csv"), "--library", "esol", "--json", env=env)
    )
    assert ingested["rows_read"] == 100
    assert ingested["engine"]["kind"] == "spark" and ingested["engine"]["startup_s"] > 0
    assert ingested["engine"]["udf_workers"] == 1 and ingested["engine"]["udf_partitions"] == 2
    commit = DeltaTable(str(home / "warehouse" / "library_raw")).history(1)[0]
    assert commit["engineInfo"].startswith("Apache-Spark/")
    assert list((home / "logs").glob("spark-server-*.log"))


def test_an_unknown_engine_is_one_line_naming_the_setting(tmp_path, data_dir):
    result = molpipe(
        tmp_path / "home",
        "ingest",
        str(data_dir / "esol_sample.csv"),
        "--library",
        "esol",
        check=False,
        env={"MOLPIPE_ENGINE": "flink"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "molpipe ingest: error: config: engine='flink' is not one of sail, spark (MOLPIPE_ENGINE)"
    ]


@pytest.mark.parametrize(
    "query, problem",
    [
        ("SELECT * FROM nosuchtable", "nosuchtable"),
        ("SELEC count(*) FROM molecules", "SELEC"),
        ("SELECT 1 / 0 AS n", "by zero"),
    ],
    ids=["unknown-table", "typo", "division-by-zero"],
)
def test_a_bad_query_is_one_line_naming_the_problem(tmp_path, query, problem):
    result = molpipe(tmp_path / "home", "sql", query, "--json", check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("molpipe sql: error: ") and problem.lower() in line.lower()
    assert last_json(result) == {"error": line.removeprefix("molpipe sql: error: "), "command": "sql"}


def test_a_bug_in_a_command_is_a_traceback_and_status_1(tmp_path):
    """Only a user's error (ValueError, FileNotFoundError) is one line and status 2: a KeyError is molpipe's bug."""
    script = (
        "import molpipe.cli, molpipe.cli.tables\n"
        "def broken(args, settings):\n"
        "    return {}['rows']\n"
        "molpipe.cli.tables._tables = broken\n"
        "molpipe.cli.entry()\n"
    )
    env = {**os.environ, "MOLPIPE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script, "tables"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback") and result.stderr.strip().splitlines()[-1] == "KeyError: 'rows'"
    assert "error:" not in result.stderr
