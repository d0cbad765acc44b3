"""A real registry for the service tests: a tiny fp-mlp trained twice on tests/data/hiv_sample.csv in a temporary
sqlite MLflow store (v1 = champion, v2 = challenger), once per test session (~25 s)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from molpipe.config import Settings

pytestmark = pytest.mark.serve
NAME = "hiv_serve"


@dataclass(frozen=True)
class Registry:
    settings: Settings
    name: str
    champion: str
    challenger: str


@pytest.fixture(scope="session")
def registry(engine_url, tmp_path_factory, data_dir) -> Registry:
    from pyspark.sql import SparkSession

    from molpipe.config import load_settings
    from molpipe.featurize import parse_featurizers
    from molpipe.featurize.job import featurize
    from molpipe.ingest.job import ingest
    from molpipe.lake.tables import Catalog
    from molpipe.registry import lifecycle
    from molpipe.split.job import split
    from molpipe.train.job import TrainRequest, train
    from molpipe.train.loop import TrainConfig

    home = tmp_path_factory.mktemp("serve") / "home"
    settings = load_settings(environ={}).replace(home=str(home), workers=1)
    spark = SparkSession.builder.remote(engine_url).create()
    try:
        catalog = Catalog(spark, settings)
        ingest(catalog, path=data_dir / "hiv_sample.csv", library="hiv", label_cols=["HIV_active"])
        featurize(catalog, library="hiv", featurizers=parse_featurizers("morgan,rdkit2d"), workers=1)
        split(catalog, library="hiv", method="random", seed=0)
        versions = []
        for seed in (0, 1):
            config = TrainConfig(
                model="fp-mlp", model_params={"hidden": 32}, epochs=2, batch_size=32, patience=2, seed=seed
            )
            versions.append(train(catalog, TrainRequest("hiv", NAME, num_processes=1), config).version)
            if seed == 0:
                lifecycle.promote(NAME, force=True)
    finally:
        spark.stop()
    return Registry(settings, NAME, *versions)


@pytest.fixture(autouse=True)
def _registry_uri(request):
    """Other tests point MLflow at their own stores: point it back at this one before each test that uses it."""
    if "registry" in request.fixturenames:
        from molpipe.registry import tracking

        tracking.configure(request.getfixturevalue("registry").settings)
    yield
