"""``make demo`` runs the whole loop: here on the HIV sample instead of the bundled 41k molecules (the same code,
minutes less), every step must succeed and account for every row."""

import pandas as pd
import pytest

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def test_the_demo_runs_the_whole_loop(data_dir, tmp_path, monkeypatch, capsys):
    from molpipe.cli.demo import run_demo
    from molpipe.config import load_settings

    monkeypatch.chdir(tmp_path)  # the lab batch goes to ./reports
    settings = load_settings(environ={}).replace(home=str(tmp_path / "home"), workers=1)
    result = run_demo(settings, "morgan,rdkit2d,graph", library_file=str(data_dir / "hiv_sample.csv"))
    out = capsys.readouterr().out
    assert result["featurize"]["accounted"] and result["example_query"]["rows"]
    assert result["champion"]["version"] == result["train"]["version"] == "1"
    assert result["score"]["scored"] > 0 and result["select"]["selected"] > 0
    assert (tmp_path / result["select"]["files"]["html"]).is_file()
    batch = pd.read_csv(tmp_path / result["select"]["files"]["csv"], keep_default_na=False)
    assert batch["passes_filters"].all() and batch["mol_weight"].max() <= 500 and batch["qed"].min() >= 0.3
    assert not batch["alerts"].str.contains("pains|brenk").any()  # what the lab would strike first
    for step in ("$ molpipe ingest", "$ molpipe sql", "$ molpipe score", "$ molpipe select", "MLflow UI"):
        assert step in out
