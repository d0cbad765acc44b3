"""Choosing and configuring an engine, without starting one."""

import os

import pytest

from molpipe.config import load_settings
from molpipe.runtime.engine import engine_name, udf_workers
from molpipe.runtime.spark_server import _jars_conf, _parse_conf, delta_coordinate, start_spark_server, task_slots


def test_task_slots_follow_the_master():
    assert task_slots("local") == 1
    assert task_slots("local[3]") == 3
    assert task_slots("local[*]") == (os.cpu_count() or 1)
    assert task_slots("local-cluster[2,1,1536]") == 2
    assert task_slots("local-cluster[3,2,1024]") == 6
    assert task_slots("spark://host:7077") == 0  # the cluster's to say


def test_engine_comes_from_the_environment_and_is_checked():
    assert engine_name(load_settings(environ={})) == "sail"
    settings = load_settings(environ={"MOLPIPE_ENGINE": "spark", "MOLPIPE_SPARK_MASTER": "local-cluster[2,1,1536]"})
    assert (engine_name(settings), settings.spark_master) == ("spark", "local-cluster[2,1,1536]")
    with pytest.raises(ValueError, match="engine='flink' is not one of sail, spark"):
        engine_name(load_settings(environ={"MOLPIPE_ENGINE": "flink"}))


def test_only_embedded_sail_gets_a_worker_pool():
    cores = os.cpu_count() or 1
    assert udf_workers(load_settings(environ={})) == cores
    assert udf_workers(load_settings(environ={"MOLPIPE_ENGINE": "spark"})) == 1  # Spark's workers, one per slot
    assert udf_workers(load_settings(environ={"MOLPIPE_SPARK_REMOTE": "sc://h:1"})) == 1
    assert udf_workers(load_settings(environ={"MOLPIPE_ENGINE": "spark", "MOLPIPE_WORKERS": "3"})) == 3


def test_a_bad_master_or_conf_names_the_setting(tmp_path):
    settings = load_settings(environ={}).replace(home=str(tmp_path), engine="spark", spark_master="yarn")
    with pytest.raises(ValueError, match="spark_master='yarn'"):
        start_spark_server(settings=settings)
    assert _parse_conf(" a.b=1, c=x=y ") == {"a.b": "1", "c": "x=y"}
    with pytest.raises(ValueError, match="spark_server.conf item 'oops'"):
        _parse_conf("a=1,oops")


def test_delta_jars_are_resolved_once_then_passed_from_the_cache(tmp_path):
    settings = load_settings(environ={"MOLPIPE_SPARK_SERVER__JARS_CACHE": str(tmp_path)})
    coordinate = delta_coordinate(settings=settings)
    assert coordinate.startswith("io.delta:delta-spark_4.2_2.13:")
    first = _jars_conf(settings)
    assert first["spark.jars.packages"] == coordinate and "spark.jars" not in first
    assert "repo1.maven.org" in open(first["spark.jars.ivySettings"]).read()
    cache = tmp_path / coordinate.replace(":", "_")
    jar = cache / "ivy" / "jars" / "io.delta_delta-spark.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"")
    (cache / "jars.txt").write_text(f"{jar}\n")
    assert _jars_conf(settings) == {"spark.jars": str(jar)}
    jar.unlink()  # a cache that lost a jar resolves again
    assert "spark.jars.packages" in _jars_conf(settings)
