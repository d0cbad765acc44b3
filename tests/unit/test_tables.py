"""Logical table names -> locations, locally and in Unity Catalog (no engine needed)."""

import pytest

from molpipe.config import load_settings
from molpipe.lake.tables import TABLES, Catalog


def test_local_tables_live_under_home(tmp_path):
    catalog = Catalog(None, load_settings(environ={}).replace(home=str(tmp_path)))
    assert catalog.location("molecules") == str(tmp_path / "warehouse" / "molecules")


def test_databricks_tables_are_three_part_names():
    settings = load_settings(environ={"MOLPIPE_CATALOG": "drug_discovery", "MOLPIPE_SCHEMA": "hts"})
    catalog = Catalog(None, settings, databricks=True)
    assert catalog.location("features") == "`drug_discovery`.`hts`.`features`"


def test_databricks_needs_a_catalog():
    with pytest.raises(ValueError, match="set MOLPIPE_CATALOG"):
        Catalog(None, load_settings(environ={}), databricks=True)


def test_unknown_table_lists_the_known_ones(tmp_path):
    catalog = Catalog(None, load_settings(environ={}).replace(home=str(tmp_path)))
    with pytest.raises(ValueError, match="unknown table 'molecule'.*molecules"):
        catalog.location("molecule")


def test_every_table_is_partitioned_by_library_except_the_spec_registry():
    assert {name for name, spec in TABLES.items() if "library" not in spec.partition_by} == {"featurizer_specs"}


def test_asking_whether_a_table_exists_creates_nothing(tmp_path):
    from types import SimpleNamespace

    local = Catalog(None, load_settings(environ={}).replace(home=str(tmp_path)))
    assert not local.exists("features") and not (tmp_path / "warehouse").exists()
    log = tmp_path / "warehouse" / "features" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json#1").touch()  # what a job killed in the table's first commit leaves
    assert not local.exists("features")
    (log / "00000000000000000000.json").touch()
    assert local.exists("features")
    asked = []
    spark = SimpleNamespace(catalog=SimpleNamespace(tableExists=lambda name: asked.append(name) or False))
    settings = load_settings(environ={"MOLPIPE_CATALOG": "drug_discovery", "MOLPIPE_SCHEMA": "hts"})
    assert not Catalog(spark, settings, databricks=True).exists("features")
    assert asked == ["`drug_discovery`.`hts`.`features`"]
