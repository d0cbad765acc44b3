"""`molpipe maintain`'s engine-free parts: the retention it accepts, the property it sets, one history format."""

from datetime import datetime, timezone

import pytest

from molpipe.config import MaintainOptions, load_settings
from molpipe.lake.maintain import (
    MaintainSummary,
    TableMaintenance,
    check_options,
    history_entry,
    removed_by_vacuum,
    retention_change,
)


@pytest.mark.parametrize("hours", [0, 24, 167, 721])
def test_a_retention_delta_would_not_keep_safely_is_refused_naming_the_setting(hours):
    with pytest.raises(ValueError, match=f"maintain.retention_hours={hours} is outside 168-720"):
        check_options(MaintainOptions(retention_hours=hours))


def test_the_history_read_back_holds_maintenances_own_commits():
    with pytest.raises(ValueError, match="maintain.history_entries=3 is below 4"):
        check_options(MaintainOptions(history_entries=3))
    with pytest.raises(ValueError, match="maintain.tables_at_once=0 must be at least 1"):
        check_options(MaintainOptions(tables_at_once=0))


def test_the_retention_comes_from_the_config():
    settings = load_settings(environ={"MOLPIPE_MAINTAIN__RETENTION_HOURS": "336"})
    assert settings.maintain.retention_hours == 336 and load_settings(environ={}).maintain.retention_hours == 168
    check_options(settings.maintain)


def test_the_retention_property_is_set_only_where_it_differs():
    assert retention_change(None, 168) is None  # Delta's default, 7 days
    assert retention_change(None, 336) == "interval 336 hours"
    assert retention_change("interval 336 hours", 336) is None
    assert retention_change("interval 7 days", 168) == "interval 168 hours"


def test_history_entries_read_the_same_from_either_path():
    when = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    spark = history_entry(5, when, "VACUUM END", {"numDeletedFiles": "3", "numVacuumedDirectories": "2"})
    deltalake = history_entry(5, when, "VACUUM END", {"numDeletedFiles": 3, "numVacuumedDirectories": 2})
    assert (
        spark
        == deltalake
        == {
            "version": 5,
            "timestamp": "2026-12-01T10:00:00+00:00",
            "operation": "VACUUM END",
            "metrics": {"numDeletedFiles": 3, "numVacuumedDirectories": 2},
        }
    )
    optimize = history_entry(4, when, "OPTIMIZE", None)
    assert removed_by_vacuum([optimize, spark, spark]) == 6 and removed_by_vacuum([optimize]) == 0


def test_the_text_report_names_each_table_its_files_and_commits():
    when = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    write, optimize = history_entry(3, when, "WRITE", {}), history_entry(4, when, "OPTIMIZE", {"numAddedFiles": 1})
    table = TableMaintenance("features", 6, 2, 39_321, 20_070, 0, 3, 4, [write], [optimize], 0.04)
    text = MaintainSummary("hiv", 168, "deltalake", [table], ["splits"], 0.2).describe()
    assert text.splitlines() == [
        "maintained library 'hiv' of 1 table(s) in 0.2 s (deltalake; VACUUM retention 168 h); not there yet: splits",
        "  features          files 6 -> 2, 38.4 kB -> 19.6 kB; vacuum removed 0; v3 -> v4 (OPTIMIZE); 0.0 s",
        "                    before: v3 WRITE",
    ]
