"""What the notebooks in ``notebooks/`` stand on: molpipe's catalog on the notebook's own ``spark``.

On Databricks the tables are ``<catalog>.<schema>.<name>`` in Unity Catalog and the notebook switches to that
schema, so SQL cells name tables bare (``SELECT * FROM candidates``); locally (the embedded engine) every existing
table is registered by its bare name. Either way MLflow points at the same store the jobs log to.
"""

from __future__ import annotations

from typing import Any

from molpipe.config import load_settings
from molpipe.lake.tables import Catalog


def notebook_catalog(spark: Any, catalog: str = "", schema: str = "") -> Catalog:
    """The catalog for a notebook: settings from the environment (``MOLPIPE_*``), widgets' values over them."""
    from molpipe.registry import tracking
    from molpipe.runtime.engine import is_databricks

    settings = load_settings()
    if catalog:
        settings = settings.replace(catalog=catalog)
    if schema:
        settings = settings.replace(schema=schema)
    databricks = is_databricks()
    tables = Catalog(spark, settings, databricks)
    if databricks:
        spark.sql(f"USE CATALOG `{settings.catalog}`")
        spark.sql(f"USE SCHEMA `{settings.schema}`")
    else:
        tables.register_existing()
    tracking.configure(settings, databricks)
    return tables
