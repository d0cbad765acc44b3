"""Ingest -> featurize on the test session's engine, on real molecules: every row accounted for, idempotent re-runs,
de-duplication across files, featurizer back-fill, and tables that plain `deltalake` can read."""

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark import cloudpickle
from pyspark.sql import functions as F
from rdkit import Chem

from molpipe.featurize import parse_featurizers
from molpipe.featurize.graph import MolecularGraph, from_flat, to_pyg_data
from molpipe.featurize.job import featurize
from molpipe.ingest.job import ingest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from count_invariant import misplaced  # noqa: E402

pytestmark = pytest.mark.spark
CHEAP = "morgan:n_bits=256,graph"


def run(catalog, path, library="lib", featurizers=CHEAP, **roles):
    loaded = ingest(catalog, path=path, library=library, **roles)
    return loaded, featurize(catalog, library=library, featurizers=parse_featurizers(featurizers), workers=1)


@pytest.fixture(scope="module")
def bad_rows_home(build_home, data_dir):
    """bad_rows.csv ingested and featurized (CHEAP) as library ``lib``: the home and (load, featurize summary)."""
    return build_home(
        "bad_rows", lambda c: run(c, data_dir / "bad_rows.csv", id_col="compound_id", label_cols=["activity"])
    )


@pytest.fixture(scope="module")
def hiv_home(build_home, data_dir):
    """The HIV sample ingested and featurized (CHEAP) as library ``lib``: the home and (load, featurize summary)."""
    return build_home("hiv", lambda c: run(c, data_dir / "hiv_sample.csv", label_cols=["HIV_active"]))


ESOL_ROLES = {"id_col": "Compound ID", "label_cols": ["measured log solubility in mols per litre"]}


@pytest.fixture(scope="module")
def esol_home(build_home, data_dir):
    """The ESOL sample ingested and featurized (CHEAP) as library ``lib``: the home and (load, featurize summary)."""
    return build_home("esol", lambda c: run(c, data_dir / "esol_sample.csv", **ESOL_ROLES))


def test_every_bad_row_ends_in_exactly_one_place(bad_rows_home, copy_home):
    home, (loaded, summary) = bad_rows_home
    catalog = copy_home(home)
    assert loaded.rows_read == summary.rows_read == 11
    assert (summary.molecules_new, summary.duplicates, summary.quarantined) == (3, 2, 6) and summary.accounted
    spark = catalog.spark
    quarantined = catalog.read("quarantine").select("source_row", "record_id", "reason").orderBy("source_row")
    expected = spark.createDataFrame(
        [
            (2, "empty-smiles", "empty"),
            (3, "unclosed-ring", "unparsable"),
            (4, "pentavalent-nitrogen", "sanitization_failed"),
            (8, "benzene", "invalid_label"),
            (9, None, "malformed_row"),
            (10, "long-alkane", "too_large"),
        ],
        "source_row BIGINT, record_id STRING, reason STRING",
    )
    assert_df_equality(quarantined, expected, ignore_nullable=True)
    sources = catalog.read("molecule_sources").select("source_row", "record_id", "is_first").orderBy("source_row")
    assert [tuple(r) for r in sources.collect()] == [
        (1, "ok-ethanol", True),
        (5, "ethanol-again", False),
        (6, "ethanol-hydrochloride", False),
        (7, "sodium-acetate", True),
        (11, "aspirin", True),
    ]
    molecules = {r["smiles"]: r for r in catalog.read("molecules").collect()}
    assert set(molecules) == {"CCO", "CC(=O)O", "CC(=O)Oc1ccccc1C(=O)O"}
    ethanol = molecules["CCO"]
    assert ethanol["n_sources"] == 3 and ethanol["labels"]["activity"] == pytest.approx(2 / 3)
    assert (ethanol["first_source_row"], ethanol["first_load_id"]) == (1, loaded.load_id)
    assert molecules["CC(=O)Oc1ccccc1C(=O)O"]["labels"] == {}
    assert molecules["CC(=O)Oc1ccccc1C(=O)O"]["scaffold"] == "c1ccccc1"


@pytest.mark.parametrize(
    "name, roles",
    [
        ("tox21_sample.csv", {"label_cols": ["NR-AR", "NR-AhR", "SR-p53"]}),
        ("solubility_sample.sdf", {"id_col": "ID", "label_cols": ["SOL"]}),
        ("zinc_sample.csv.gz", {}),
    ],
)
def test_count_invariant_on_each_dataset(catalog, data_dir, name, roles):
    assert_accounted(catalog, *run(catalog, data_dir / name, **roles))


@pytest.mark.parametrize("built", ["hiv_home", "esol_home"])
def test_count_invariant_on_the_hiv_and_esol_samples(built, request, copy_home):
    home, (loaded, summary) = request.getfixturevalue(built)
    assert_accounted(copy_home(home), loaded, summary)


def assert_accounted(catalog, loaded, summary):
    assert summary.rows_read == loaded.rows_read > 0
    assert summary.molecules_new + summary.duplicates + summary.quarantined == summary.rows_read
    assert catalog.read("library_raw").count() == loaded.rows_read and misplaced(catalog) == 0
    assert catalog.read("molecules").count() == summary.molecules_new
    per_featurizer = {
        r["featurizer"]: r["count"] for r in catalog.read("features").groupBy("featurizer").count().collect()
    }
    assert per_featurizer == {"morgan": summary.molecules_new, "graph": summary.molecules_new}


def test_hiv_sample_quarantines_exactly_the_unsanitizable_rows(hiv_home, copy_home):
    home, (_, summary) = hiv_home
    catalog = copy_home(home)
    assert summary.quarantine_reasons == {"sanitization_failed": 7}
    details = [r["detail"] for r in catalog.read("quarantine").collect()]
    assert all("valence" in d for d in details)


def test_running_again_adds_nothing(hiv_home, copy_home, data_dir):
    catalog = copy_home(hiv_home[0])
    path = data_dir / "hiv_sample.csv"
    versions = {t: catalog.version(t) for t in ("library_raw", "molecules", "features", "quarantine")}
    counts = {t: catalog.read(t).count() for t in versions}
    again, summary = run(catalog, path, label_cols=["HIV_active"])
    assert again.already_loaded and summary.rows_read == 0 and summary.features_computed == {}
    assert {t: catalog.read(t).count() for t in versions} == counts
    assert catalog.version("library_raw") == versions["library_raw"]


def test_second_file_merges_with_dedup_across_files(bad_rows_home, copy_home, tmp_path):
    catalog = copy_home(bad_rows_home[0])
    second = tmp_path / "rescreen.csv"
    second.write_text(
        "smiles,compound_id,activity\n"
        "[O-]CC.[Na+],ethanol-sodium-salt,0\n"  # ethanol again: third file form
        "CC(=O)OC1=CC=CC=C1C(O)=O,aspirin-kekule,1\n"  # aspirin: gains its first label
        "c1ccncc1,pyridine,0.25\n"  # new
    )
    loaded, summary = run(catalog, second, id_col="compound_id", label_cols=["activity"])
    assert (summary.rows_read, summary.molecules_new, summary.duplicates, summary.quarantined) == (3, 1, 2, 0)
    molecules = {r["smiles"]: r for r in catalog.read("molecules").collect()}
    assert molecules["CCO"]["n_sources"] == 4 and molecules["CCO"]["labels"]["activity"] == pytest.approx(0.5)
    assert molecules["CC(=O)Oc1ccccc1C(=O)O"]["labels"] == {"activity": 1.0}
    assert molecules["c1ccncc1"]["first_load_id"] == loaded.load_id
    assert catalog.read("molecules").count() == 4
    # features only for the new molecule
    assert catalog.read("features").where(F.col("featurizer") == "graph").count() == 4


def test_added_featurizer_is_backfilled_for_existing_molecules(esol_home, copy_home):
    home, (_, first) = esol_home
    catalog = copy_home(home)
    second = featurize(catalog, library="lib", featurizers=parse_featurizers("morgan:n_bits=256,maccs"), workers=1)
    assert second.rows_read == 0 and second.features_computed == {"maccs": first.molecules_new}
    specs = {r["featurizer"]: r for r in catalog.read("featurizer_specs").collect()}
    assert (
        specs["maccs"]["dim"] == 167
        and specs["morgan"]["params"] == '{"chirality": false, "counts": false, "n_bits": 256, "radius": 2}'
    )


def test_stored_graphs_become_pyg_data(esol_home, copy_home):
    catalog = copy_home(esol_home[0])
    row = (
        catalog.read("features")
        .where(F.col("featurizer") == "graph")
        .join(catalog.read("molecules"), "inchikey")
        .where(F.col("smiles") == "Cc1occc1C(=O)Nc1ccccc1")  # fenfuram
        .select("values", "edge_index", "edge_attr")
        .first()
    )
    data = to_pyg_data(from_flat(row["values"], row["edge_index"], row["edge_attr"]))
    assert data.num_nodes == 15 and data.num_edges == 32


@dataclass(frozen=True)
class NitrogenFails(MolecularGraph):
    """The graph featurizer, failing on any molecule with a nitrogen."""

    def compute(self, mol):
        if any(a.GetSymbol() == "N" for a in mol.GetAtoms()):
            raise ValueError("no nitrogen today")
        return super().compute(mol)


def test_featurizer_errors_are_quarantined(catalog, data_dir):
    # the featurizer is pickled into the UDF by value: Spark runs the UDF in its own Python workers, which cannot
    # import this test module (a monkeypatch of the test process would not reach them either)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ingest(catalog, path=data_dir / "esol_sample.csv", library="lib")
    summary = featurize(
        catalog, library="lib", featurizers=[*parse_featurizers("morgan:n_bits=256"), NitrogenFails()], workers=1
    )
    assert summary.accounted and summary.quarantine_reasons.get("featurizer_error", 0) > 0
    failed = catalog.read("quarantine").where(F.col("reason") == "featurizer_error")
    assert failed.where(~F.col("detail").contains("no nitrogen today")).count() == 0
    # a molecule that failed has no molecule row and no features at all
    kept = [Chem.MolFromSmiles(r["smiles"]) for r in catalog.read("molecules").collect()]
    assert kept and not any(a.GetSymbol() == "N" for mol in kept for a in mol.GetAtoms())
    assert catalog.read("features").join(catalog.read("molecules"), "inchikey", "left_anti").count() == 0


def test_process_pool_through_spark_gives_identical_tables(hiv_home, copy_home, data_dir):
    catalog = copy_home(hiv_home[0])  # library lib featurized in line (workers = 1)
    ingest(catalog, path=data_dir / "hiv_sample.csv", library="pooled", label_cols=["HIV_active"])
    featurize(catalog, library="pooled", featurizers=parse_featurizers(CHEAP), workers=2)

    def table(name, library, columns):
        return catalog.read(name).where(F.col("library") == library).select(*columns).orderBy(*columns[:2])

    for name, columns in [
        ("molecules", ["inchikey", "smiles", "scaffold", "labels"]),
        ("features", ["inchikey", "spec", "values", "edge_index"]),
    ]:
        assert_df_equality(table(name, "lib", columns), table(name, "pooled", columns))


def test_tables_are_real_delta_for_deltalake(hiv_home, copy_home):
    from deltalake import DeltaTable

    catalog = copy_home(hiv_home[0])
    molecules = DeltaTable(str(catalog.path("molecules")))
    assert molecules.version() >= 1
    history = molecules.history()
    assert "MERGE" in {h["operation"] for h in history}
    # version 0 is molpipe's empty write of the table's schema: Sail records it as CREATE TABLE, Delta on Spark as WRITE
    assert next(h for h in history if h["version"] == 0)["operation"] in {"CREATE TABLE", "WRITE"}
    frame = molecules.to_pyarrow_dataset().to_table(columns=["inchikey", "smiles"]).to_pandas()
    assert len(frame) == 235 and frame.inchikey.is_unique  # 243 rows - 7 unsanitizable - 1 duplicate
    features = DeltaTable(str(catalog.path("features"))).to_pyarrow_dataset().to_table().to_pandas()
    assert set(features.featurizer) == {"morgan", "graph"}


def test_quarantine_keeps_the_raw_row(bad_rows_home, copy_home):
    catalog = copy_home(bad_rows_home[0])
    row = catalog.read("quarantine").where(F.col("reason") == "sanitization_failed").first()
    assert row["structure"] == "CN(C)(C)(C)C" and row["source_file"].endswith("bad_rows.csv")
    assert "valence" in row["detail"]


def test_featurize_of_unknown_library_says_what_to_do(catalog):
    with pytest.raises(ValueError, match="run `molpipe ingest FILE --library typo` first"):
        featurize(catalog, library="typo", featurizers=parse_featurizers("maccs"))


def test_slices_give_the_same_outcome_as_one_pass(catalog, data_dir):
    from molpipe.config import FeaturizeOptions
    from molpipe.lake.tables import Catalog

    sliced = Catalog(catalog.spark, catalog.settings.replace(featurize=FeaturizeOptions(slice_rows=4)))
    ingest(sliced, path=data_dir / "bad_rows.csv", library="lib", id_col="compound_id", label_cols=["activity"])
    summary = featurize(sliced, library="lib", featurizers=parse_featurizers(CHEAP), workers=1)
    # ethanol is first seen in slice 1 (row 1); rows 5 and 6 in slice 2 are its duplicates
    assert (summary.rows_read, summary.molecules_new, summary.duplicates, summary.quarantined) == (11, 3, 2, 6)
    ethanol = sliced.read("molecules").where(F.col("smiles") == "CCO").first()
    assert ethanol["n_sources"] == 3 and ethanol["labels"]["activity"] == pytest.approx(2 / 3)
    assert sliced.read("features").count() == 2 * 3
