"""Every error a user can cause is one line on stderr naming the file, table, model or setting, and status 2
(issue 18, part 5; the messages: docs/development.md#what-a-user-reads-when-something-is-wrong).

In-process (``molpipe.cli.execute``), each command on its own embedded Sail as a job runs; the engine-backed cases
start from a copy of the session's scored home (HIV featurized, split and scored by the champion ``hiv_mlp``). One
subprocess checks the process itself. The messages are molpipe's own, raised before or around the engine's work,
so these run in the Sail pass only."""

import errno
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from molpipe.cli import execute


@pytest.fixture
def env(monkeypatch, job_engine):
    """Commands as a user runs them: the default engine, one worker, no configuration of the developer's."""
    for name in [key for key in os.environ if key.startswith("MOLPIPE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MOLPIPE_WORKERS", "1")
    return monkeypatch


@pytest.fixture
def home(scored_home, tmp_path):
    """A private copy of the scored home."""
    shutil.copytree(scored_home[0], tmp_path / "home")
    return tmp_path / "home"


@pytest.fixture
def run_ids(scored_home):
    return {name: summary.run_id for name, summary in scored_home[1].items()}


def one_line_error(capsys, home, *args) -> str:
    """Run ``molpipe --home HOME ARGS``: it must fail with status 2 and one line; returns that line."""
    code, summary = execute(["--home", str(home), *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert (code, summary) == (2, None), lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"molpipe {args[0]}: error: "), lines
    return lines[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "variables, named",
    [
        ({"MOLPIPE_WORKERS": "abc"}, "MOLPIPE_WORKERS"),
        ({"MOLPIPE_WORKERS": "-1"}, "MOLPIPE_WORKERS"),
        ({"MOLPIPE_SCORE__BETA": "high"}, "MOLPIPE_SCORE__BETA"),
        ({"MOLPIPE_CONFIG": "{tmp}/nosuch.toml"}, "nosuch.toml does not exist (MOLPIPE_CONFIG)"),
        ({"MOLPIPE_CONFIG": "{tmp}"}, "is a folder (MOLPIPE_CONFIG)"),
        ({"MOLPIPE_CONFIG": "{tmp}/bad.toml"}, "bad.toml: not valid TOML"),
        ({"MOLPIPE_ENGINE": "spark", "MOLPIPE_SPARK_MASTER": "bogus"}, "spark_master='bogus'"),  # before any JVM
        ({"MOLPIPE_SPARK_REMOTE": "http://localhost:15002"}, "MOLPIPE_SPARK_REMOTE"),
        ({"MOLPIPE_SPARK_REMOTE": "sc://127.0.0.1:{port}"}, "no Spark Connect server answers at 127.0.0.1:"),
    ],
    ids=[
        "workers-not-a-number",
        "workers-negative",
        "score-beta",
        "config-file-missing",
        "config-file-a-folder",
        "config-file-not-toml",
        "spark-master",
        "spark-remote-not-a-url",
        "spark-remote-nothing-listening",
    ],
)
def test_a_bad_setting_names_it(env, capsys, tmp_path, variables, named):
    (tmp_path / "bad.toml").write_text("home = [unclosed\n")
    for key, value in variables.items():
        env.setenv(key, value.format(tmp=tmp_path, port=closed_port()))
    line = one_line_error(capsys, tmp_path / "home", "tables")
    assert named.format(port="") in line


def _unreadable(path: Path, monkeypatch) -> None:
    """``path`` this process may not read: mode 000, and where that does not stop it (root), its open refused."""
    path.chmod(0)
    if os.geteuid() == 0:
        real = Path.open

        def refused(self, *args, **kwargs):
            if self == path:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refused)


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda p: None, "nosuch.csv: no such file"),
        (lambda p: p.mkdir(), "lib.csv: a folder, not a file"),
        (lambda p: p.write_bytes(b""), "lib.csv: the file is empty"),
        (lambda p: p.write_bytes(b"smiles\x00\xff\x00\n\x01\x02"), "lib.csv: binary data where a CSV header"),
        (lambda p: p.write_bytes(b"PAR1 but no footer"), "lib.parquet: unreadable as Parquet"),
        ("truncated", "lib.csv.gz: read failed after record"),
        ("unreadable", "lib.csv: cannot be read (permission denied)"),
    ],
    ids=["missing", "a-folder", "empty", "binary", "not-parquet", "truncated-gzip", "permission-denied"],
)
def test_an_unreadable_library_file_names_it(env, capsys, tmp_path, data_dir, make, named):
    name = named.split(":")[0]
    path = tmp_path / name
    if make == "truncated":
        import gzip

        whole = gzip.compress((data_dir / "esol_sample.csv").read_bytes())
        path.write_bytes(whole[: len(whole) // 2])
    elif make == "unreadable":
        shutil.copy(data_dir / "esol_sample.csv", path)
        _unreadable(path, env)
    else:
        make(path)
    line = one_line_error(capsys, tmp_path / "home", "ingest", str(path), "--library", "esol")
    assert f"{path}{named.removeprefix(name)}" in line


@pytest.mark.parametrize("named_file", [True, False], ids=["a-file-named", "no-file-named"])
def test_a_full_disk_is_one_line(env, capsys, tmp_path, data_dir, named_file):
    """The write layer (ingest's staged Parquet) refused for want of space: the path it names, or the home."""

    def full(table, where, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(where)] if named_file else []))

    env.setattr(pq, "write_table", full)
    home = tmp_path / "home"
    line = one_line_error(capsys, home, "ingest", str(data_dir / "esol_sample.csv"), "--library", "esol")
    assert "no space left on device" in line
    assert (f"{home}/staging/ingest-" if named_file else f"writing under {home} (MOLPIPE_HOME)") in line


def test_a_home_where_a_file_is_names_the_path(env, capsys, tmp_path, data_dir):
    (tmp_path / "a-file").write_text("")
    line = one_line_error(
        capsys, tmp_path / "a-file" / "home", "ingest", str(data_dir / "esol_sample.csv"), "--library", "x"
    )
    assert f"{tmp_path}/a-file/home" in line and "not a directory" in line


@pytest.mark.parametrize(
    "args, named",
    [
        (["split", "--library", "hiv", "--fractions", "a,b,c"], "--fractions takes three numbers"),
        (["split", "--library", "hiv", "--fractions", "0.5,0.5"], "--fractions takes three numbers"),
        (["split", "--library", "nope"], "library 'nope' has no molecules"),
        (["featurize", "--library", "hiv", "--workers", "-1"], "workers=-1"),
        (["sql", "SELECT 1", "--limit", "-1"], "--limit must be 0 or more"),
        (["train", "--library", "hiv", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "--library", "hiv", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["train", "--library", "hiv", "--ensemble", "0"], "--ensemble must be at least 1"),
        (["train", "--library", "hiv", "--lr", "-1"], "--lr must be positive"),
        (["train", "--library", "hiv", "--calibration-folds", "1"], "--calibration-folds must be 0 or at least 2"),
        (["train", "--library", "hiv", "--num-processes", "0"], "--num-processes must be at least 1"),
        (["train", "--library", "hiv", "--model", "gnn", "--param", "hidden=wide"], "hidden='wide' is not a valid int"),
        (["train", "--library", "hiv", "--param", "hidden=32"], "--param needs --model"),
        (["train", "--library", "hiv", "--model", "fp-mlp", "--split-id", "nope"], "has no split 'nope'"),
        (["tune", "--library", "hiv", "--trials", "0"], "--trials must be at least 1"),
        (["validate", "--model", "nope"], "no registered model 'nope' (registered: hiv_mlp)"),
        (["promote", "--model", "nope"], "no registered model 'nope' (registered: hiv_mlp)"),
        (["promote", "--model", "hiv_mlp"], "model 'hiv_mlp' has no 'challenger' version to promote"),
        (["rollback", "--model", "nope"], "no registered model 'nope' (registered: hiv_mlp)"),
        (["rollback", "--model", "hiv_mlp"], "model 'hiv_mlp' has no previous champion"),
    ],
    ids=[
        "split-fractions-not-numbers",
        "split-two-fractions",
        "split-unknown-library",
        "featurize-negative-workers",
        "sql-negative-limit",
        "train-no-epochs",
        "train-no-batch",
        "train-no-members",
        "train-negative-lr",
        "train-one-calibration-fold",
        "train-no-processes",
        "train-param-type",
        "train-param-without-model",
        "train-unknown-split",
        "tune-no-trials",
        "validate-unknown-model",
        "promote-unknown-model",
        "promote-no-challenger",
        "rollback-unknown-model",
        "rollback-nothing-before",
    ],
)
def test_a_bad_option_or_name_says_which(env, capsys, home, args, named):
    assert named in one_line_error(capsys, home, *args)


@pytest.mark.parametrize(
    "args, named",
    [
        (["--model", "nope@champion"], "model 'nope' has no alias 'champion': no model of that name is registered"),
        (["--model", "hiv_mlp@staging"], "model 'hiv_mlp' has no alias 'staging' (its aliases: champion v1;"),
        (["--model", "hiv_mlp/9"], "model 'hiv_mlp' has no version 9 (its aliases: champion v1; versions: 1)"),
        (["--model", "hiv_mlp", "--library", "nope"], "library 'nope' has no molecules"),
        (["--model", "hiv_mlp", "--split-id", "nope"], "library 'hiv' has no split 'nope' (--split-id); its splits:"),
        (["--model", "hiv_mlp", "--run-id", "nope"], "no MLflow run 'nope' (--run-id)"),
        (["--model", "hiv_mlp", "--label", "nope"], "predicts HIV_active, not 'nope'"),
        (["--model", "hiv_mlp", "--acquisition", "nope"], "unknown acquisition 'nope'"),
    ],
    ids=[
        "unknown-model",
        "unknown-alias",
        "unknown-version",
        "unknown-library",
        "unknown-split",
        "unknown-run",
        "unknown-label",
        "unknown-acquisition",
    ],
)
def test_score_names_what_is_not_there(env, capsys, home, args, named):
    if "--library" not in args:
        args = [*args, "--library", "hiv"]
    assert named in one_line_error(capsys, home, "score", *args)


def test_score_mc_samples_names_the_setting(env, capsys, home):
    env.setenv("MOLPIPE_SCORE__MC_SAMPLES", "0")
    line = one_line_error(
        capsys, home, "score", "--library", "hiv", "--model", "hiv_mlp", "--uncertainty", "mc-dropout"
    )
    assert "MOLPIPE_SCORE__MC_SAMPLES" in line


@pytest.mark.parametrize(
    "args, named",
    [
        (["--k", "0"], "a batch needs k >= 1 molecules, not 0"),
        (["--k", "-1"], "a batch needs k >= 1 molecules, not -1"),
        (["--strategy", "nope"], "unknown acquisition function 'nope'"),
        (["--max-per-scaffold", "-1"], "--max-per-scaffold must be 0 (no cap) or more"),
        (["--out", "{home}/a-file/reports"], "a-file/reports: not a directory"),
    ],
    ids=["no-molecules", "negative-k", "unknown-strategy", "negative-scaffold-cap", "out-under-a-file"],
)
def test_select_says_which_option(env, capsys, home, run_ids, args, named):
    (home / "a-file").write_text("")
    args = [arg.format(home=home) for arg in args]
    assert named in one_line_error(capsys, home, "select", "--run", run_ids["hiv"], "--out", str(home / "r"), *args)


def test_select_of_an_unknown_run_names_it(env, capsys, home):
    assert "no scoring run 'nope' in candidates" in one_line_error(capsys, home, "select", "--run", "nope")


@pytest.mark.parametrize(
    "args, named",
    [
        (["--label-cols", "pIC50"], "plate.csv: no column 'pIC50' (--label-cols)"),
        (["--label-cols", "HIV_active", "--library", "nope"], "library 'nope' has no molecules"),
        (["--label-cols", "HIV_active", "--split-id", "nope"], "library 'hiv' has no split 'nope'"),
        (["--label-cols", "HIV_active", "--batch-id", "nope"], "no lab batch 'nope' in selections (--batch-id)"),
    ],
    ids=["missing-column", "unknown-library", "unknown-split", "unknown-batch"],
)
def test_ingest_results_names_what_is_wrong(env, capsys, home, tmp_path, data_dir, args, named):
    plate = tmp_path / "plate.csv"
    plate.write_text("smiles,HIV_active\n" + "".join(f"{s},1\n" for s in ("CCO", "c1ccccc1O")))
    if "--library" not in args:
        args = [*args, "--library", "hiv"]
    assert named in one_line_error(capsys, home, "ingest-results", str(plate), *args)


def test_monitor_of_an_unknown_run_names_it(env, capsys, home):
    assert "no scoring run 'nope' in candidates" in one_line_error(capsys, home, "monitor", "--run", "nope")


def test_monitor_of_a_library_never_scored_names_those_that_were(env, capsys, home):
    line = one_line_error(capsys, home, "monitor", "--library", "nosuch")
    assert "library 'nosuch' has no scoring runs in candidates (scored: esol, hiv)" in line


def test_serve_with_no_such_model_names_it(env, capsys, home):
    line = one_line_error(capsys, home, "serve", "--model", "nope", "--port", str(closed_port()))
    assert "model 'nope' has no alias 'champion'" in line


@pytest.mark.cli
def test_the_process_ends_with_the_line_and_status_2(tmp_path):
    """The whole process: a bad setting read before any command runs is the same one line, status 2."""
    env = {**os.environ, "MOLPIPE_HOME": str(tmp_path), "MOLPIPE_WORKERS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "molpipe", "tables"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "molpipe tables: error: config: workers='many' is not a valid int (MOLPIPE_WORKERS)"
    ]


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB file system of its own (tmpfs), to fill up; skipped where this process may not mount one."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_disk_the_engine_fills_up_is_one_line_naming_the_home(env, capsys, small_disk, data_dir):
    home = small_disk / "home"
    ingest = ["ingest", str(data_dir / "hiv_sample.csv"), "--library", "hiv", "--label-cols", "HIV_active"]
    assert execute(["--home", str(home), *ingest])[0] == 0
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with open(small_disk / "filler", "wb") as filler:
        os.posix_fallocate(filler.fileno(), 0, free - 150_000)  # room for the staging, not for the tables
    capsys.readouterr()
    line = one_line_error(capsys, home, "featurize", "--library", "hiv", "--featurizers", "morgan,rdkit2d")
    assert f"the engine could not write under {home} (MOLPIPE_HOME)" in line
    assert "No space left on device" in line


@pytest.mark.parametrize(
    "argv, names",
    [
        (["ingest"], "molpipe ingest: error: the following arguments are required: path, --library"),
        (["score", "--library", "hiv", "--model", "m@champion", "--bogus"], "unrecognized arguments: --bogus"),
        (["nosuch"], "molpipe: error: argument COMMAND: invalid choice: 'nosuch'"),
    ],
)
def test_a_wrong_command_line_is_one_line_pointing_at_its_help(capsys, argv, names):
    with pytest.raises(SystemExit) as exited:
        execute(argv)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2 and names in line and line.endswith("--help`)")
