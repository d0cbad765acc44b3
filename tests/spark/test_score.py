"""Scoring into candidates, on real HIV molecules with a real registered model (temporary sqlite MLflow store)."""

import dataclasses

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from molpipe.config import ScoreOptions
from molpipe.featurize import parse_featurizers
from molpipe.featurize.job import featurize
from molpipe.ingest.job import ingest
from molpipe.score.job import score
from molpipe.train.job import TrainRequest, train
from molpipe.train.loop import TrainConfig

pytestmark = pytest.mark.spark
FEATURIZERS = "morgan,rdkit2d"
CANDIDATE_COLUMNS = [
    "scoring_run_id",
    "library",
    "inchikey",
    "smiles",
    "scaffold",
    "prediction",
    "uncertainty",
    "ad_similarity",
    "acquisition",
    "acquisition_score",
    "rank",
    "label",
    "model_name",
    "model_version",
    "model_alias",
    "training_split_id",
    "scored_at",
    "alerts",
    "mol_weight",
    "clogp",
    "tpsa",
    "hbd",
    "hba",
    "rotatable_bonds",
    "formal_charge",
    "heavy_atoms",
    "qed",
    "sa_score",
    "ro5_violations",
    "filter_profile",
    "passes_filters",
    "filter_reasons",
    "prediction_lower",
    "prediction_upper",
]


@pytest.fixture
def champion(scored):
    """HIV sample with 30 % of the labeled molecules held out into the pool; an fp-mlp champion ``hiv_mlp`` (a
    private copy of the session's scored home, see conftest)."""
    catalog, _ = scored
    return catalog


SESSION_RUN = ScoreOptions(acquisition="ucb", mc_samples=2)  # the options of hiv_scoring's run (conftest)


def test_candidates_schema_ranks_and_pool(champion, hiv_scoring):
    summary = hiv_scoring  # by hiv_mlp@champion
    rows = champion.read("candidates").where(F.col("scoring_run_id") == summary.run_id).toPandas()
    assert list(rows.columns) == CANDIDATE_COLUMNS
    pool = champion.read("splits").where(F.col("split") == "pool").count()
    assert summary.pool == pool == summary.scored == len(rows) and summary.invalid == 0
    assert (summary.model_version, summary.model_alias, summary.uncertainty) == ("1", "champion", "mc-dropout")
    run = mlflow.get_run(summary.run_id)  # beside the training runs, not among them
    model_run = mlflow.MlflowClient().get_model_version("hiv_mlp", "1").run_id
    trained_in = mlflow.get_experiment(mlflow.get_run(model_run).info.experiment_id)
    scored_in = mlflow.get_experiment(run.info.experiment_id)
    assert scored_in.name == f"{trained_in.name}-scoring" and run.info.run_name == "score-hiv-hiv_mlp-v1"
    assert scored_in.tags["mlflow.experimentKind"] == "custom_model_development"
    assert sorted(rows["rank"]) == list(range(1, len(rows) + 1))
    ordered = rows.sort_values("rank")
    assert ordered["acquisition_score"].is_monotonic_decreasing
    assert ((rows["prediction"] >= 0) & (rows["prediction"] <= 1)).all() and (rows["uncertainty"] >= 0).all()
    assert ((rows["ad_similarity"] > 0) & (rows["ad_similarity"] <= 1)).all()
    assert rows["prediction_lower"].isna().all() and rows["prediction_upper"].isna().all()  # a probability: no interval
    trained = champion.read("splits").where(F.col("split") != "pool").select("inchikey").toPandas()["inchikey"]
    assert not set(rows["inchikey"]) & set(trained)  # never a molecule the model saw


def test_candidates_carry_the_filters_of_each_molecule(champion, hiv_scoring):
    """The scoring workers' alerts, properties and verdict are exactly what molpipe.chem.filters gives on the same
    molecule; the lab_ready_candidates view holds the ones that pass, in rank order."""
    from rdkit import Chem

    from molpipe.chem.filters import PROFILES, AlertMatcher, assess

    summary = hiv_scoring
    rows = champion.read("candidates").where(F.col("scoring_run_id") == summary.run_id).toPandas()
    matcher = AlertMatcher()
    for row in rows.to_dict("records"):
        expected = assess(Chem.MolFromSmiles(row["smiles"]), matcher=matcher, judged_by=PROFILES["drug-like"])
        assert list(row["alerts"]) == expected.alerts and list(row["filter_reasons"]) == expected.reasons
        assert row["passes_filters"] == expected.passes and row["ro5_violations"] == expected.ro5_violations
        assert row["qed"] == pytest.approx(expected.properties["qed"]) and row["hbd"] == expected.properties["hbd"]
    assert set(rows["filter_profile"]) == {"drug-like"}
    assert summary.passing_filters == int(rows["passes_filters"].sum())
    assert 0 < summary.passing_filters < len(rows)  # the HIV sample has molecules on both sides
    champion.register_existing()
    ready = champion.spark.sql(
        f"SELECT inchikey, rank, lab_rank FROM lab_ready_candidates WHERE scoring_run_id = '{summary.run_id}'"
    ).toPandas()
    passing = rows[rows["passes_filters"]].sort_values("rank")
    assert ready.sort_values("lab_rank")["inchikey"].tolist() == passing["inchikey"].tolist()
    assert sorted(ready["lab_rank"]) == list(range(1, len(passing) + 1))


def test_rerun_replaces_its_rows_and_a_new_run_adds_its_own(champion, hiv_scoring):
    options, first = SESSION_RUN, hiv_scoring
    this_run = F.col("scoring_run_id") == first.run_id
    before = champion.read("candidates").where(this_run).toPandas()
    again = score(champion, library="hiv", model="hiv_mlp", options=options, run_id=first.run_id)
    after = champion.read("candidates").where(this_run).toPandas()
    assert again.run_id == first.run_id and len(after) == len(before)
    key = ["inchikey", "rank", "prediction", "acquisition_score"]
    pd.testing.assert_frame_equal(
        before.sort_values("inchikey")[key].reset_index(drop=True),
        after.sort_values("inchikey")[key].reset_index(drop=True),
    )
    other = score(champion, library="hiv", model="hiv_mlp/1", options=options)
    runs = champion.read("candidates").groupBy("scoring_run_id").count().toPandas().set_index("scoring_run_id")
    assert other.run_id != first.run_id and runs.loc[[first.run_id, other.run_id], "count"].tolist() == [
        first.scored,
        other.scored,
    ]


def test_invalid_pool_smiles_go_to_quarantine_never_to_candidates(champion, data_dir):
    ingest(champion, path=data_dir / "bad_rows.csv", library="screen", label_cols=[])
    featurize(champion, library="screen", featurizers=parse_featurizers(FEATURIZERS), workers=1)
    summary = score(
        champion,
        library="screen",
        model="hiv_mlp@champion",
        options=ScoreOptions(acquisition="greedy", uncertainty="none"),
    )
    molecules = champion.read("molecules").where(F.col("library") == "screen").count()
    quarantined = champion.read("quarantine").where(F.col("library") == "screen").toPandas()
    candidates = champion.read("candidates").where(F.col("library") == "screen").toPandas()
    assert summary.pool == molecules == summary.scored == len(candidates) and len(quarantined) > 0
    assert not set(quarantined["structure"].dropna()) & set(candidates["smiles"])
    assert candidates["uncertainty"].isna().all()
    assert candidates["acquisition_score"].tolist() == candidates["prediction"].tolist()  # greedy = prediction


def test_unknown_model_or_acquisition_is_a_clear_error(champion):
    with pytest.raises(ValueError, match="no alias 'nope'"):
        score(champion, library="hiv", model="hiv_mlp@nope", options=ScoreOptions())
    with pytest.raises(ValueError, match="unknown acquisition 'best'"):
        score(champion, library="hiv", model="hiv_mlp", options=ScoreOptions(acquisition="best"))


def test_select_writes_a_diverse_batch_and_results_flow_back_into_training(champion, hiv_scoring, tmp_path):
    from molpipe.config import SelectOptions
    from molpipe.lab.results import ingest_results
    from molpipe.lab.select import select

    run = hiv_scoring
    batch = select(
        champion,
        run_id=run.run_id,
        options=SelectOptions(k=8, diversity="scaffold", oversample=3),
        out_dir=tmp_path,
        strategy="greedy",
    )
    assert batch.selected == 8 and batch.strategy == "greedy" and batch.filters == "drug-like"
    csv = pd.read_csv(batch.files["csv"])
    assert list(csv["position"]) == list(range(1, 9)) and csv["inchikey"].is_unique and csv["passes_filters"].all()
    assert csv["mol_weight"].max() <= 500 and csv["qed"].min() >= 0.3 and csv["scaffold"].value_counts().max() <= 2
    assert batch.considered >= 8 and sum(batch.exclusions.values()) >= batch.considered - 8 * 3
    html = open(batch.files["html"]).read()
    assert csv["smiles"][0] in html and "nearest labelled training molecules" in html and "Chemical space" in html
    stored = champion.read("selections").where(F.col("batch_id") == batch.batch_id).count()
    assert stored == 8
    carbon = tmp_path / "carbon.csv"  # a user's alert every molecule has: nothing can go to the lab
    carbon.write_text("name,smarts\ncarbon,[#6]\n")
    with pytest.raises(ValueError, match=r"passes the drug-like\+carbon.csv filters \(alert:custom \d+"):
        select(champion, run_id=run.run_id, options=SelectOptions(k=8), out_dir=tmp_path, filters=str(carbon))

    # the lab measures the batch: the held-out labels of those molecules come back as a results file
    labels = champion.read("molecules").select("inchikey", F.col("labels")["HIV_active"].alias("HIV_active"))
    measured = csv.merge(labels.toPandas(), on="inchikey")[["smiles", "HIV_active"]]
    results = tmp_path / "plate1.csv"
    measured.to_csv(results, index=False)
    summary = ingest_results(
        champion,
        path=results,
        library="hiv",
        featurizers=parse_featurizers(FEATURIZERS),
        label_cols=["HIV_active"],
        batch_id=batch.batch_id,
    )
    assert (summary.rows_read, summary.measurements, summary.moved_to_train, summary.new_molecules) == (8, 8, 8, 0)
    history = champion.read("lab_results").where(F.col("batch_id") == batch.batch_id).count()
    moved = champion.read("splits").where(F.col("inchikey").isin(list(csv["inchikey"])))
    assert history == 8 and {r["split"] for r in moved.collect()} == {"train"}
    again = ingest_results(
        champion, path=results, library="hiv", featurizers=parse_featurizers(FEATURIZERS), label_cols=["HIV_active"]
    )
    assert again.already_loaded and again.moved_to_train == 0
    assert champion.read("lab_results").count() == 8

    retrained = train(
        champion,
        TrainRequest("hiv", "hiv_mlp", num_processes=1),
        TrainConfig(model="fp-mlp", model_params={"hidden": 32}, epochs=1, batch_size=32),
    )
    assert retrained.counts["train"] == run_train_count(champion) and retrained.version == "2"
    rescored = score(
        champion, library="hiv", model="hiv_mlp/2", options=ScoreOptions(acquisition="greedy", uncertainty="none")
    )
    assert rescored.pool == run.pool - 8  # measured molecules left the pool


def run_train_count(catalog) -> int:
    return catalog.read("splits").where(F.col("split") == "train").count()


def test_sql_views_over_candidates(champion, hiv_scoring):
    first = hiv_scoring
    latest = score(champion, library="hiv", model="hiv_mlp", options=ScoreOptions(acquisition="ucb", mc_samples=2))
    champion.register_existing()
    runs = {
        r[0]
        for r in champion.spark.sql(
            "SELECT DISTINCT scoring_run_id FROM latest_candidates WHERE library = 'hiv'"
        ).collect()
    }
    assert runs == {latest.run_id} and first.run_id != latest.run_id
    top = champion.spark.sql(f"SELECT max(rank) FROM top_candidates WHERE scoring_run_id = '{latest.run_id}'").first()[
        0
    ]
    assert top == min(100, latest.scored)
    best = champion.spark.sql(
        f"SELECT scaffold, rank FROM best_per_scaffold WHERE scoring_run_id = '{latest.run_id}'"
    ).toPandas()
    assert best["scaffold"].is_unique and best["rank"].min() == 1
    novelty = champion.spark.sql(
        "SELECT novelty, ad_similarity, novel_scaffold FROM candidate_novelty "
        f"WHERE scoring_run_id IN ('{first.run_id}', '{latest.run_id}')"
    ).toPandas()
    assert len(novelty) == first.scored + latest.scored
    assert ((novelty["novelty"] + novelty["ad_similarity"]).round(9) == 1).all()
    assert novelty["novel_scaffold"].any() and not novelty["novel_scaffold"].all()


def test_worker_pool_and_in_line_scoring_agree(champion, hiv_scoring):
    inline = hiv_scoring  # in line: the session's home scores with workers = 1
    pooled = score(champion, library="hiv", model="hiv_mlp", options=SESSION_RUN, workers=2)
    rows = champion.read("candidates").toPandas()
    a = rows[rows["scoring_run_id"] == inline.run_id].set_index("inchikey").sort_index()
    b = rows[rows["scoring_run_id"] == pooled.run_id].set_index("inchikey").sort_index()
    assert list(a.index) == list(b.index)
    for column in ("prediction", "uncertainty", "ad_similarity"):
        assert (a[column] - b[column]).abs().max() < 1e-5, column


def test_ensemble_model_gives_its_spread_as_uncertainty(champion):
    import mlflow

    config = TrainConfig(model="fp-mlp", model_params={"hidden": 32}, epochs=2, batch_size=32, ensemble=2)
    trained = train(champion, TrainRequest("hiv", "hiv_ens", num_processes=1), config)
    assert trained.weights_identical_across_ranks
    model = mlflow.pyfunc.load_model(f"models:/hiv_ens/{trained.version}")
    assert model.unwrap_python_model().predictor.config["weights"] == ["model-0.pt", "model-1.pt"]
    smiles = pd.DataFrame({"smiles": ["c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "not a smiles"]})
    spread = model.predict(smiles)
    assert (spread["uncertainty"][:2] > 0).all() and spread["uncertainty"].isna().tolist() == [False, False, True]
    none = model.predict(smiles, params={"uncertainty": "none"})
    assert none["uncertainty"].isna().all() and (none["prediction"][:2] == spread["prediction"][:2]).all()
    dropout = model.predict(smiles, params={"uncertainty": "mc-dropout", "samples": 5})
    assert (dropout["uncertainty"][:2] > 0).all()
    summary = score(champion, library="hiv", model="hiv_ens/1", options=ScoreOptions(acquisition="ucb"))
    assert summary.uncertainty == "ensemble" and summary.scored == summary.pool


def test_cheap_features_a_worker_recomputes_equal_the_stored_ones(champion):
    """Scoring recomputes cheap featurizers from the pool's SMILES rather than joining their stored columns, so the
    values a worker computes must be exactly the ones ``featurize`` stored."""
    from rdkit import Chem

    from molpipe.featurize.read import join_features, row_features
    from molpipe.featurize.registry import FEATURIZERS

    cheap = parse_featurizers(",".join(n for n in FEATURIZERS.names() if FEATURIZERS.get(n).cheap))
    assert "morgan" in {f.name for f in cheap}
    featurize(champion, library="hiv", featurizers=cheap, workers=1)
    molecules = champion.read("molecules").where(F.col("library") == "hiv").select("inchikey", "smiles")
    features = champion.read("features").where(F.col("library") == "hiv")
    rows = join_features(molecules, features, cheap).toPandas().to_dict("records")
    assert len(rows) == molecules.count() > 200
    for row in rows:
        stored, mol = row_features(row, cheap), Chem.MolFromSmiles(row["smiles"])
        for featurizer in cheap:
            assert np.array_equal(featurizer.compute(mol), stored[featurizer.name]), (featurizer.name, row["smiles"])


def test_a_pool_cut_into_slices_scores_as_one_query(champion):
    """Where stored features are joined (rdkit2d here), the pool is scored in hash slices of ``slice_rows``: the
    same molecules, predictions and ranks as in one query."""
    options = ScoreOptions(acquisition="greedy", uncertainty="none")
    whole = score(champion, library="hiv", model="hiv_mlp", options=options)
    sliced = score(champion, library="hiv", model="hiv_mlp", options=dataclasses.replace(options, slice_rows=20))
    assert sliced.pool == whole.pool > 3 * 20
    rows = champion.read("candidates").toPandas().set_index("inchikey")
    a = rows[rows["scoring_run_id"] == whole.run_id].sort_index()
    b = rows[rows["scoring_run_id"] == sliced.run_id].sort_index()
    assert list(a.index) == list(b.index) and a["rank"].tolist() == b["rank"].tolist()
    assert (a["prediction"] - b["prediction"]).abs().max() < 1e-6


def test_workers_load_the_drivers_copy_of_the_model_or_the_registrys(champion, tmp_path, monkeypatch):
    """Worker processes on the driver's machine load the model from the copy the driver downloaded; an executor of
    a cluster, given no copy, downloads it from the registry. Both are the same model."""
    from molpipe.registry.reference import PinnedModel
    from molpipe.score import batch

    ref = PinnedModel.of("hiv_mlp", "1")
    local = ref.download(tmp_path / "model")
    assert (tmp_path / "model").is_dir() and local.uri == ref.uri
    smiles = [{"smiles": s} for s in ("c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC")]
    predictions = []
    for source in (local, ref):
        monkeypatch.setattr(batch, "_predictors", {})  # a fresh process
        predictor = batch.load_predictor(source)
        features = [predictor.complete(row) for row in smiles]
        predictions.append(predictor.predict_features(features, "none")[0])
    assert np.array_equal(*predictions) and np.isfinite(predictions[0]).all()


def test_a_candidates_table_written_before_the_filters_gains_their_columns(catalog):
    """A home from an earlier molpipe: its candidates table lacks the filter columns; the first job to use it adds
    them (null in the old rows) and appends runs with them, on either engine."""
    from deltalake import DeltaTable

    from molpipe.lake.tables import TABLES, Catalog

    spec = TABLES["candidates"]
    old = ", ".join(spec.column_items[: CANDIDATE_COLUMNS.index("scored_at") + 1])
    row = [("r0", "lib", "K", "CCO", "", 0.5, None, 0.3, "ucb", 0.5, 1, "y", "m", "1", None, "s", None)]
    path = str(catalog.path("candidates"))
    catalog.spark.createDataFrame(row, old).write.format("delta").partitionBy("library").save(path)
    evolved = Catalog(catalog.spark, catalog.settings)
    evolved.ensure("candidates")
    names = [field.name for field in DeltaTable(path).schema().fields]
    added = CANDIDATE_COLUMNS[CANDIDATE_COLUMNS.index("scored_at") + 1 :]
    assert sorted(names) == sorted(CANDIDATE_COLUMNS) and names[-len(added) :] == added  # at the end, in order
    new = evolved.read("candidates").where(F.col("scoring_run_id") == "r0").select("*")
    evolved.append(
        "candidates", new.withColumn("scoring_run_id", F.lit("r1")).withColumn("alerts", F.array(F.lit("x")))
    )
    rows = evolved.read("candidates").orderBy("scoring_run_id").toPandas()
    assert rows["alerts"][0] is None and list(rows["alerts"][1]) == ["x"] and rows["passes_filters"].isna().all()


def test_a_run_that_measures_no_filters_still_gives_a_filtered_batch(champion, tmp_path):
    """[filters] profile none without alert sets: scoring stores no filter columns (the fast path), and select
    measures the candidates it considers."""
    from molpipe.config import FilterOptions, SelectOptions
    from molpipe.lab.select import select
    from molpipe.lake.tables import Catalog

    fast = Catalog(champion.spark, champion.settings.replace(filters=FilterOptions(profile="none", alerts="")))
    run = score(fast, library="hiv", model="hiv_mlp", options=ScoreOptions(acquisition="greedy", uncertainty="none"))
    rows = fast.read("candidates").where(F.col("scoring_run_id") == run.run_id).toPandas()
    assert rows["alerts"].isna().all() and rows["qed"].isna().all() and set(rows["filter_profile"]) == {"none"}
    batch = select(fast, run_id=run.run_id, options=SelectOptions(k=5), out_dir=tmp_path, filters="drug-like")
    picks = pd.read_csv(batch.files["csv"])
    assert batch.selected == 5 and picks["passes_filters"].all() and picks["qed"].min() >= 0.3
