"""One typed config: defaults, a TOML file, then MOLPIPE_* variables."""

import pytest

from molpipe.config import load_settings


def test_defaults():
    settings = load_settings(environ={}, config_file=None)
    assert settings.home == ".molpipe" and settings.workers == 0
    assert settings.featurize.featurizers == "morgan,rdkit2d,maccs,graph"
    assert settings.standardize.max_heavy_atoms == 200


def test_file_then_environment(tmp_path):
    config = tmp_path / "molpipe.toml"
    config.write_text(
        'home = "/data/mp"\nworkers = 4\n[standardize]\ncanonical_tautomer = true\nmax_heavy_atoms = 120\n'
    )
    environ = {
        "MOLPIPE_CONFIG": str(config),
        "MOLPIPE_WORKERS": "8",
        "MOLPIPE_STANDARDIZE__MAX_HEAVY_ATOMS": "150",
        "MOLPIPE_UNRELATED_THING": "x",
    }
    settings = load_settings(environ=environ)
    assert settings.home == "/data/mp" and settings.workers == 8
    assert settings.standardize.canonical_tautomer is True and settings.standardize.max_heavy_atoms == 150


def test_bad_values_name_the_setting():
    with pytest.raises(ValueError, match=r"standardize\.max_heavy_atoms='lots' is not a valid int"):
        load_settings(environ={"MOLPIPE_STANDARDIZE__MAX_HEAVY_ATOMS": "lots"})
    with pytest.raises(FileNotFoundError, match=r"config file /nonexistent/molpipe\.toml does not exist"):
        load_settings(environ={"MOLPIPE_CONFIG": "/nonexistent/molpipe.toml"})
