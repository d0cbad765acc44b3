"""A Delta commit that lost to a concurrent one is run again with a growing random wait; other errors are not."""

import pytest

from molpipe.config import ConcurrencyOptions
from molpipe.lake.conflicts import Busy, is_conflict, retrying

# what the engines said when two processes merged into one table at once (docs/data-and-tables.md)
SAIL = "Failed to commit transaction: 0"
SAIL_LOG = "Missing commit file: expected version 0, found 8"
SPARK = (
    "(io.delta.exceptions.ConcurrentAppendException) [DELTA_CONCURRENT_APPEND.WITHOUT_HINT] Transaction conflict "
    "detected. a concurrent MERGE added data to table delta.`file:/tmp/warehouse/featurizer_specs` committed at "
    "version 1."
)
SPARK_CREATE = (
    "(io.delta.exceptions.ProtocolChangedException) [DELTA_PROTOCOL_CHANGED] ProtocolChangedException: The protocol "
    "version of the Delta table has been changed by a concurrent update."
)


class SparkRuntimeException(Exception):
    """As pyspark's Spark Connect client raises Sail's errors."""


@pytest.mark.parametrize("message", [SAIL, SAIL_LOG, SPARK, SPARK_CREATE])
def test_each_engines_conflict_is_recognized(message):
    assert is_conflict(SparkRuntimeException(message))


@pytest.mark.parametrize(
    "message", ["[TABLE_OR_VIEW_NOT_FOUND] The table or view `nosuch` cannot be found.", "No space left on device"]
)
def test_other_errors_are_not_conflicts(message):
    assert not is_conflict(SparkRuntimeException(message))


def _flaky(failures: int, message: str = SPARK):
    calls = []

    def statement():
        calls.append(1)
        if len(calls) <= failures:
            raise SparkRuntimeException(message)
        return "committed"

    return statement, calls


def test_a_conflicted_commit_is_retried_with_growing_random_waits(capsys):
    statement, calls = _flaky(3)
    pauses: list[float] = []
    options = ConcurrencyOptions(commit_retries=5, commit_backoff_s=1.0)
    assert retrying(statement, what="MERGE INTO molecules", options=options, sleep=pauses.append) == "committed"
    assert len(calls) == 4 and len(pauses) == 3
    assert all(0 <= pause <= 2**attempt for attempt, pause in enumerate(pauses))
    assert "MERGE INTO molecules: a concurrent commit conflicted; retry 3/5" in capsys.readouterr().err


def test_a_commit_that_keeps_conflicting_is_one_line_naming_the_table_and_setting():
    statement, calls = _flaky(10, SAIL)
    options = ConcurrencyOptions(commit_retries=2, commit_backoff_s=0.0)
    with pytest.raises(Busy) as raised:
        retrying(statement, what="UPDATE loads", options=options, sleep=lambda _: None)
    assert len(calls) == 3
    message = str(raised.value)
    assert message.startswith("UPDATE loads: concurrent commits by another job conflicted 3 times in a row")
    assert "MOLPIPE_CONCURRENCY__COMMIT_RETRIES" in message and "\n" not in message


def test_any_other_error_is_raised_at_once():
    def statement():
        raise SparkRuntimeException("[TABLE_OR_VIEW_NOT_FOUND] nosuch")

    with pytest.raises(SparkRuntimeException):
        retrying(statement, what="DELETE FROM candidates", options=ConcurrencyOptions(), sleep=pytest.fail)


def test_negative_retry_settings_are_refused_naming_their_variable():
    with pytest.raises(ValueError, match="MOLPIPE_CONCURRENCY__COMMIT_BACKOFF_S"):
        retrying(lambda: None, what="x", options=ConcurrencyOptions(commit_backoff_s=-1))
