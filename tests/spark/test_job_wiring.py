"""What the bundle's job tasks rely on, end to end on the test session's engine: a landing folder through the real
`molpipe ingest`, and validate/promote acting only on the challenger version the train task handed on."""

import shutil

import mlflow
import pytest
from deltalake import DeltaTable

from molpipe.cli import execute
from molpipe.registry import lifecycle

pytestmark = pytest.mark.spark


def test_landing_ingests_each_file_and_fails_the_task_on_a_bad_one(tmp_path, data_dir, monkeypatch, capsys, job_engine):
    monkeypatch.setenv("MOLPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOLPIPE_WORKERS", "1")
    landing = tmp_path / "landing" / "library"
    landing.mkdir(parents=True)
    shutil.copy(data_dir / "esol_sample.csv", landing / "esol.csv")
    (landing / "notes.csv").write_text("name,comment\nplate 3,no structures here\n")
    code, summary = execute(
        ["landing", str(landing), "--then", "ingest", "--library", "esol", "--smiles-col", "smiles", "--json"]
    )
    assert (code, summary) == (2, None)
    assert "1 of 2 file(s) failed (moved to _failed/): notes.csv:" in capsys.readouterr().err
    loads = DeltaTable(str(tmp_path / "home" / "warehouse" / "loads")).to_pandas()
    assert list(loads["source_file"].map(lambda p: p.rsplit("/", 1)[-1])) == ["esol.csv"]
    assert loads["rows_read"].tolist() == [100]
    assert (tmp_path / "landing" / "_failed" / "library" / "notes.csv.error.txt").is_file()
    assert not list(landing.iterdir())

    shutil.copy(data_dir / "esol_sample.csv", landing / "esol-again.csv")  # the same bytes under another name
    code, summary = execute(
        ["landing", str(landing), "--then", "ingest", "--library", "esol", "--smiles-col", "smiles", "--json"]
    )
    assert code == 0 and summary["processed"] == 1
    assert summary["files"][0]["summary"]["already_loaded"] is True  # recognised by its SHA-256: nothing added


def test_validate_and_promote_act_only_on_the_version_handed_on(scored):
    catalog, _ = scored
    mlflow.set_tracking_uri(f"sqlite:///{catalog.settings.home_path / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{catalog.settings.home_path / 'mlflow.db'}")
    mlflow.MlflowClient().set_registered_model_alias("hiv_mlp", "challenger", "1")
    with pytest.raises(ValueError, match="'challenger' of 'hiv_mlp' is v1, not v2: a later training moved it"):
        lifecycle.promote("hiv_mlp", force=True, version="2")
    with pytest.raises(ValueError, match="is v1, not v2"):
        lifecycle.validate(catalog, name="hiv_mlp", options=catalog.settings.validation, version="2")
    assert lifecycle.promote("hiv_mlp", force=True, version="1").champion == "1"
