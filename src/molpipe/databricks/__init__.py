"""Databricks helpers: notebooks, job task values, the deployed workspace's status."""
