"""molpipe split on the test session's engine: labeled vs pool, scaffold integrity, determinism."""

import pytest
from pyspark.sql import functions as F

from molpipe.featurize import parse_featurizers
from molpipe.featurize.job import featurize
from molpipe.ingest.job import ingest
from molpipe.split.assign import Fractions
from molpipe.split.job import split

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def hiv_home(build_home, data_dir):
    def steps(catalog):
        ingest(catalog, path=data_dir / "hiv_sample.csv", library="hiv", label_cols=["HIV_active"])
        ingest(catalog, path=data_dir / "zinc_sample.csv.gz", library="hiv")  # unlabeled molecules in the same library
        featurize(catalog, library="hiv", featurizers=parse_featurizers("morgan:n_bits=64"), workers=1)

    return build_home("split", prepare=steps)[0]


@pytest.fixture
def hiv(hiv_home, copy_home):
    return copy_home(hiv_home)


def splits(catalog, split_id):
    return catalog.read("splits").where(F.col("split_id") == split_id)


def test_scaffold_split_keeps_scaffolds_together_and_pools_unlabeled(hiv):
    summary = split(
        hiv, library="hiv", method="scaffold", fractions=Fractions(0.8, 0.1, 0.1), pool_fraction=0.1, seed=0
    )
    assert summary.split_id == "scaffold-seed0-pool0.1"
    molecules = hiv.read("molecules")
    labeled = molecules.where(F.size("labels") > 0).count()
    assert labeled == 235  # hiv_sample's distinct valid molecules (one ZINC molecule is among them)
    assert summary.pool_reasons["unlabeled"] == molecules.count() - labeled == 299
    assert (
        summary.pool_reasons["held_out"] + summary.counts["train"] + summary.counts["valid"] + summary.counts["test"]
        == labeled
    )
    assert 10 <= summary.pool_reasons["held_out"] <= 40
    rows = splits(hiv, summary.split_id)
    assert rows.count() == molecules.count()
    shared = (
        rows.where(F.col("split") != "pool").groupBy("scaffold").agg(F.countDistinct("split").alias("n")).where("n > 1")
    )
    assert shared.count() == 0
    held_out_labels = rows.where(F.col("pool_reason") == "held_out").join(hiv.read("molecules"), "inchikey")
    assert held_out_labels.where(F.size("labels") == 0).count() == 0  # held out = labeled, hidden from training


def test_same_seed_same_split_and_rerun_replaces(hiv):
    first = split(hiv, library="hiv", method="scaffold", seed=7)
    before = {tuple(r) for r in splits(hiv, first.split_id).select("inchikey", "split").collect()}
    again = split(hiv, library="hiv", method="scaffold", seed=7)
    after = {tuple(r) for r in splits(hiv, again.split_id).select("inchikey", "split").collect()}
    assert before == after and splits(hiv, first.split_id).count() == len(before)
    other = split(hiv, library="hiv", method="scaffold", seed=8)
    assert {tuple(r) for r in splits(hiv, other.split_id).select("inchikey", "split").collect()} != before


def test_random_split_fractions(hiv):
    summary = split(hiv, library="hiv", method="random", fractions=Fractions(0.5, 0.25, 0.25), seed=1)
    assert summary.counts["pool"] == 299
    assert summary.counts["train"] + summary.counts["valid"] + summary.counts["test"] == 235
    assert 90 <= summary.counts["train"] <= 146


def test_split_of_unknown_library_says_what_to_do(catalog):
    with pytest.raises(ValueError, match="run `molpipe featurize --library nope` first"):
        split(catalog, library="nope")
