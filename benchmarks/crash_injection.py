"""Crash injection: each molpipe command killed mid-run, then run again, and nothing lost or duplicated.

    python benchmarks/crash_injection.py [--only ingest,featurize] [--times 8] [--no-points] [--keep DIR]

Each command of :data:`SCENARIOS` starts from a prepared home (:data:`TEMPLATES`: the tables and registry it needs,
built once on the embedded engine) and runs as ``python -m molpipe`` in a session of its own. One uninterrupted run
gives the reference: the named kill points it passes (:data:`molpipe.runtime.faults.POINTS`, logged through
``MOLPIPE_FAULT_LOG``), its duration and what the home holds afterwards. Then, each on a fresh copy of the home:

* every point it passed, at each time it passed it (``MOLPIPE_FAULT_AT=<point>:<k>``: the job SIGKILLs its own
  process group there);
* ``--times`` moments spread evenly over the reference's duration (the harness SIGKILLs the process group);

and after each kill the same command again, to the end. A trial recovered when that run succeeds, every check of
:func:`problems` holds (every input row in exactly one of ``molecule_sources`` or ``quarantine``; nothing
duplicated; ``loads`` featurized only when the features are there; every alias at a version with its card; no staging
left behind; no MLflow run still RUNNING whose job is gone) and the home holds what the reference's does (:func:`outcome`). It prints per command the trials, how
many kills landed before the job ended by itself, how many recovered, and every failed check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from count_invariant import misplaced

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
FEATURIZERS = "morgan,rdkit2d"  # what fp-mlp reads
TINY_MODEL = tuple("--model fp-mlp --param hidden=32 --epochs 2 --batch-size 32 --num-processes 1".split())
MODEL = "hiv_mlp"


@dataclass(frozen=True)
class Scenario:
    """``molpipe <command> <args>`` on a copy of template ``template``; in ``args``, ``{work}`` is the copy's folder
    (its home is ``{work}/home``), ``{data}`` tests/data and ``{scoring_run}`` the template's scoring run."""

    name: str
    template: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, work: Path) -> list[str]:
        run = work / "scoring_run_id"
        values = {"work": work, "data": DATA, "scoring_run": run.read_text() if run.exists() else ""}
        return [arg.format(**values) for arg in self.args]


SCORE = ("score", "--library", "hiv", "--model", f"{MODEL}@champion")
SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "ingest", "empty", ("ingest", "{data}/hiv_sample.csv", "--library", "hiv", "--label-cols", "HIV_active")
        ),
        Scenario(  # three slices of 100 rows: every point of a round is passed three times
            "featurize",
            "ingested",
            ("featurize", "--library", "hiv", "--featurizers", FEATURIZERS),
            {"MOLPIPE_FEATURIZE__SLICE_ROWS": "100"},
        ),
        Scenario("split", "split", ("split", "--library", "hiv", "--split", "random", "--pool-fraction", "0.3")),
        Scenario("score", "scored", SCORE),
        Scenario("score --run-id", "scored", (*SCORE, "--run-id", "{scoring_run}")),
        Scenario(
            "ingest-results",
            "split",
            ("ingest-results", "{work}/results.csv", "--library", "hiv", "--label-cols", "HIV_active"),
        ),
        Scenario("landing", "empty", ("landing", "{work}/inbox", "--then", "ingest", "--library", "landed")),
        Scenario("train", "scored", ("train", "--library", "hiv", "--model-name", MODEL, *TINY_MODEL)),
        # as a job's promote task runs it: with the version its train task registered (v2: v1 is the champion)
        Scenario("promote", "challenger", ("promote", "--model", MODEL, "--force", "--version", "2")),
    ]
}


def _files(catalog) -> None:
    """The landing folder and its two files."""
    work = catalog.settings.home_path.parent
    (work / "inbox").mkdir(parents=True)
    for name in ("esol_sample.csv", "bad_rows.csv"):
        shutil.copy(DATA / name, work / "inbox" / name)


def _ingest(catalog) -> None:
    from molpipe.ingest.job import ingest

    ingest(catalog, path=DATA / "hiv_sample.csv", library="hiv", label_cols=["HIV_active"])


def _split(catalog) -> None:
    from pyspark.sql import functions as F

    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.split.job import split

    featurize(catalog, library="hiv", featurizers=parse_featurizers(FEATURIZERS), workers=1)
    summary = split(catalog, library="hiv", method="random", pool_fraction=0.3, seed=0)
    pool = catalog.read("splits").where((F.col("split_id") == summary.split_id) & (F.col("split") == "pool"))
    smiles = [row["smiles"] for row in pool.join(catalog.read("molecules"), "inchikey").limit(5).collect()]
    # the lab's results: five pool molecules measured, one new molecule and one that does not parse
    rows = [f"{s},{i % 2}" for i, s in enumerate(smiles)] + ["CCCCCCCCCCO,1", "C1CC(,0"]
    (catalog.settings.home_path.parent / "results.csv").write_text("smiles,HIV_active\n" + "\n".join(rows) + "\n")


def _train(catalog) -> None:
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    config = TrainConfig(model="fp-mlp", model_params={"hidden": 32}, epochs=2, batch_size=32, patience=2)
    train(catalog, TrainRequest("hiv", MODEL, num_processes=1), config)


def _champion(catalog) -> None:
    from molpipe.registry import lifecycle

    _train(catalog)
    lifecycle.promote(MODEL, force=True)


def _score(catalog) -> None:
    from molpipe.config import ScoreOptions
    from molpipe.score.job import score

    summary = score(catalog, library="hiv", model=f"{MODEL}@champion", options=ScoreOptions())
    (catalog.settings.home_path.parent / "scoring_run_id").write_text(summary.run_id)


TEMPLATES: dict[str, tuple[str | None, Callable]] = {  # name: (the template it starts from, its steps)
    "empty": (None, _files),
    "ingested": ("empty", _ingest),
    "split": ("ingested", _split),
    "champion": ("split", _champion),
    "challenger": ("champion", _train),
    "scored": ("champion", _score),
}


def build_templates(spark, root: Path, names) -> dict[str, Path]:
    """The templates ``names`` need (each copied from the one it starts from, then its steps run in this process on
    ``spark``), as folders under ``root`` holding ``home/`` and the files the commands read."""
    from molpipe.config import load_settings
    from molpipe.lake.tables import Catalog

    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            parent, steps = TEMPLATES[name]
            work = root / name
            if parent:
                shutil.copytree(build(parent), work)
            steps(Catalog(spark, load_settings(environ={}).replace(home=str(work / "home"), workers=1)))
            built[name] = work
        return built[name]

    for name in names:
        build(name)
    return built


@dataclass
class Run:
    returncode: int
    seconds: float
    stderr: str


def run(scenario: Scenario, work: Path, *, env: dict[str, str] | None = None, kill_after: float | None = None) -> Run:
    """The command in a session of its own, on ``work``'s home; SIGKILL of its process group after ``kill_after`` s."""
    environ = {**os.environ, "MOLPIPE_HOME": str(work / "home"), "MOLPIPE_WORKERS": "1", **scenario.env, **(env or {})}
    environ.pop("MOLPIPE_ENGINE", None)
    environ.pop("MOLPIPE_SPARK_REMOTE", None)  # the job's own embedded engine, as a scheduled job has
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "molpipe", *scenario.argv(work)],
            cwd=work,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=kill_after if kill_after is not None else 600)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.seek(0)
        return Run(proc.returncode, time.monotonic() - started, err.read())


@dataclass
class Trial:
    scenario: str
    kill: str  # "<point>:<k>" or "t=<seconds>"
    killed: bool  # the kill landed before the job ended by itself
    problems: list[str]


def sweep(scenario: Scenario, template: Path, spark, *, scratch: Path, points: bool = True, times: int = 8):
    """Every kill of ``scenario`` (its points, then ``times`` moments), each followed by a run to the end; yields a
    :class:`Trial` per kill. The reference run must itself pass the checks."""
    reference = fresh(template, scratch / f"{_slug(scenario)}-reference")
    log = reference / "points.log"
    done = run(scenario, reference, env={"MOLPIPE_FAULT_LOG": str(log)})
    if done.returncode != 0:
        raise RuntimeError(f"{scenario.name} failed without a kill:\n{done.stderr[-3000:]}")
    catalog, models = open_home(spark, reference)
    wrong, expected = problems(catalog, models), outcome(catalog, models, reference)
    if wrong:
        raise RuntimeError(f"{scenario.name} breaks the checks without a kill: {wrong}")
    kills: list[tuple[str, dict[str, str], float | None]] = []
    if points:
        hits = Counter()
        for name in log.read_text().split():
            hits[name] += 1
            kills.append((f"{name}:{hits[name]}", {"MOLPIPE_FAULT_AT": f"{name}:{hits[name]}"}, None))
    step = done.seconds / (times + 1)
    kills += [(f"t={step * i:.1f}s", {}, step * i) for i in range(1, times + 1)]
    for number, (kill, env, after) in enumerate(kills):
        work = fresh(template, scratch / f"{_slug(scenario)}-{number}")
        killed = run(scenario, work, env=env, kill_after=after).returncode == -signal.SIGKILL
        yield Trial(scenario.name, kill, killed, recover(scenario, work, spark, expected))
        shutil.rmtree(work)
    shutil.rmtree(reference)


def recover(scenario: Scenario, work: Path, spark, expected: dict | None = None) -> list[str]:
    """Run the command again on a killed job's home; what is wrong afterwards (nothing: it recovered): the
    :func:`problems`, and where ``expected`` (an uninterrupted run's :func:`outcome`) is given, what differs."""
    again = run(scenario, work)
    if again.returncode != 0:
        return [f"the rerun failed ({again.returncode}): {again.stderr.strip()[-1500:]}"]
    catalog, models = open_home(spark, work)
    wrong = problems(catalog, models)
    if expected is None:
        return wrong
    found = outcome(catalog, models, work)
    return wrong + [
        f"{key}: {found.get(key)!r}, uninterrupted {value!r}"
        for key, value in expected.items()
        if found.get(key) != value
    ]


def _slug(scenario: Scenario) -> str:
    return scenario.name.replace(" --", "-")


def fresh(template: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    return work


def open_home(spark, work: Path):
    """The tables of the home in ``work`` on ``spark``, and its :func:`registry`."""
    from molpipe.config import load_settings
    from molpipe.lake.tables import Catalog

    catalog = Catalog(spark, load_settings(environ={}).replace(home=str(work / "home"), workers=1))
    return catalog, registry(catalog.settings)


# (table, key): no two rows of the table share the key
UNIQUE = [
    ("loads", ("library", "load_id")),
    ("library_raw", ("library", "load_id", "source_row")),
    ("molecules", ("library", "inchikey")),
    ("molecule_sources", ("library", "load_id", "source_row")),
    ("quarantine", ("library", "load_id", "source_row", "record_id")),
    ("features", ("library", "inchikey", "spec")),
    ("featurizer_specs", ("spec",)),
    ("splits", ("library", "split_id", "inchikey")),
    ("candidates", ("scoring_run_id", "inchikey")),
    ("lab_results", ("library", "load_id", "source_row", "label")),
    ("selections", ("batch_id", "inchikey")),
]


def problems(catalog, models) -> list[str]:
    """Every check the home fails: the tables' invariants, the registry's and the staging area's."""
    from pyspark.sql import functions as F

    present = {table for table, _ in UNIQUE if catalog.exists(table)}
    found = []
    for table, key in UNIQUE:
        if table in present:
            n = catalog.read(table).groupBy(*key).count().where("count > 1").count()
            found += [f"{n} duplicate {table} row(s) by {', '.join(key)}"] if n else []
    if "loads" in present:
        raw = catalog.read("library_raw").groupBy("library", "load_id").agg(F.count(F.lit(1)).alias("rows"))
        short = catalog.read("loads").join(raw, ["library", "load_id"], "left")
        n = short.where(F.coalesce("rows", F.lit(0)) != F.col("rows_read")).count()
        found += [f"{n} load(s) whose library_raw rows are not its rows_read"] if n else []
    if "molecule_sources" in present:
        n = misplaced(catalog)
        found += (
            [f"{n} input row(s) of featurized loads not in exactly one of molecule_sources, quarantine"] if n else []
        )
        molecules = catalog.read("molecules").select("library", "inchikey")
        n = catalog.read("molecule_sources").join(molecules, ["library", "inchikey"], "left_anti").count()
        found += [f"{n} molecule_sources row(s) of no molecule"] if n else []
        features = catalog.read("features").select("library", "inchikey", "spec")
        wanted = molecules.join(features.select("library", "spec").distinct(), "library")
        n = wanted.join(features, ["library", "inchikey", "spec"], "left_anti").count()
        found += [f"{n} molecule(s) without a feature their library has"] if n else []
    found += _registry_problems(models)
    stale = _runs_of_dead_jobs(catalog.settings)
    found += [f"{len(stale)} MLflow run(s) still RUNNING whose job is gone: {', '.join(stale)}"] if stale else []
    staging = catalog.settings.home_path / "staging"
    left = sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
    return found + ([f"staging left behind: {', '.join(left)}"] if left else [])


def outcome(catalog, models, work: Path) -> dict:
    """What a run leaves, to compare with an uninterrupted run's: rows per table (a killed scoring run's candidates
    aside: the rows per run), loads featurized, each model's aliases, champion and champion history, and the
    files outside the home (the landing folder)."""
    from pyspark.sql import functions as F

    found: dict = {}
    for table, _ in UNIQUE:
        if table in ("candidates", "selections") or not catalog.exists(table):
            continue
        rows = catalog.read(table)
        if table == "quarantine":  # a killed scoring run's quarantined molecules are its own
            rows = rows.where(~F.col("load_id").startswith("score:"))
        found[f"rows.{table}"] = rows.count()
    if catalog.exists("loads"):
        found["loads featurized"] = catalog.read("loads").where(F.col("featurized_at").isNotNull()).count()
    if catalog.exists("molecules"):
        found["sum(molecules.n_sources)"] = catalog.read("molecules").agg(F.sum("n_sources")).first()[0]
    if catalog.exists("candidates"):
        per_run = catalog.read("candidates").groupBy("scoring_run_id").count().collect()
        found["candidates per run"] = sorted({row["count"] for row in per_run})
    for model, _ in models:
        found[f"{model.name} aliases"] = sorted(model.aliases)
        found[f"{model.name} champion"] = model.aliases.get("champion")
        found[f"{model.name} history"] = model.tags.get("molpipe.champion_history")
    files = (p.relative_to(work) for p in work.rglob("*") if p.is_file() and p.name != "points.log")
    found["files"] = sorted(str(p) for p in files if p.parts[0] != "home")
    return found


def registry(settings) -> list:
    """Each model of the home's MLflow registry with its versions by number; none without a store (asking would
    create one)."""
    import mlflow

    from molpipe.registry import tracking

    if not (settings.home_path / "mlflow.db").exists():
        return []
    uri = tracking.tracking_uri(settings)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return [
        (model, {str(v.version): v for v in client.search_model_versions(f"name = '{model.name}'")})
        for model in client.search_registered_models()
    ]


def _runs_of_dead_jobs(settings) -> list[str]:
    """The home's MLflow runs still RUNNING whose job process is gone (a rerun ends them as KILLED)."""
    import mlflow

    from molpipe.registry import tracking
    from molpipe.runtime import owners

    if not (settings.home_path / "mlflow.db").exists():
        return []
    uri = tracking.tracking_uri(settings)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, "attributes.status = 'RUNNING'") if experiments else []
    return [run.info.run_id for run in running if owners.gone(run.data.tags.get(tracking.OWNER_TAG, ""))]


def _registry_problems(models) -> list[str]:
    found = []
    for model, versions in models:
        for alias, version in model.aliases.items():
            if str(version) not in versions:
                found.append(f"{model.name}@{alias} points at missing v{version}")
                continue
            tags = versions[str(version)].tags
            if "task" not in tags or "library" not in tags:
                found.append(f"{model.name}@{alias} points at v{version}, which has no model card")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(SCENARIOS))
    parser.add_argument("--times", type=int, default=8, help="kills at evenly spaced moments per command")
    parser.add_argument("--no-points", action="store_true", help="only the time sweep")
    parser.add_argument("--keep", help="build the templates and the trials' homes here and keep the templates")
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.runtime.engine import session

    scenarios = [SCENARIOS[name] for name in args.only.split(",")] if args.only else list(SCENARIOS.values())
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="molpipe-crash-"))
    started = time.monotonic()
    trials: list[Trial] = []
    try:
        with session(load_settings(environ={}).replace(home=str(root / "engine"))) as (_, catalog):
            templates = build_templates(catalog.spark, root / "templates", {s.template for s in scenarios})
            for scenario in scenarios:
                for trial in sweep(
                    scenario,
                    templates[scenario.template],
                    catalog.spark,
                    scratch=root / "trials",
                    points=not args.no_points,
                    times=args.times,
                ):
                    trials.append(trial)
                    state = "recovered" if not trial.problems else "LOST: " + "; ".join(trial.problems)
                    print(
                        f"{trial.scenario:<15} {trial.kill:<34} {'killed' if trial.killed else 'ended'}  {state}",
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'command':<15} {'points':>6} {'times':>6} {'killed':>7} {'recovered':>10} {'lost':>5}")
    for scenario in scenarios:
        mine = [t for t in trials if t.scenario == scenario.name]
        named = sum(1 for t in mine if not t.kill.startswith("t="))
        lost = sum(1 for t in mine if t.problems)
        print(
            f"{scenario.name:<15} {named:>6} {len(mine) - named:>6} {sum(t.killed for t in mine):>7} "
            f"{len(mine) - lost:>10} {lost:>5}"
        )
    print(f"{len(trials)} kills in {time.monotonic() - started:,.0f} s")
    if any(t.problems for t in trials):
        raise SystemExit("a killed job lost or duplicated something")


if __name__ == "__main__":
    main()
