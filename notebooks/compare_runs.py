# Databricks notebook source
# MAGIC %md
# MAGIC # Compare training runs
# MAGIC
# MAGIC Every finished training run in molpipe's MLflow experiments: model, data, hyperparameters, test metrics and
# MAGIC the registry version each became; then the learning curves side by side. Tuning trials and scoring runs are
# MAGIC left out.

# COMMAND ----------

dbutils.widgets.text("metric", "roc_auc", "Test metric (roc_auc, pr_auc, rmse, ...)")
dbutils.widgets.text("curve", "valid_roc_auc", "Learning curve metric")
dbutils.widgets.text("runs", "10", "Runs to plot")
dbutils.widgets.text("catalog", "", "Catalog (Databricks; default $MOLPIPE_CATALOG)")
dbutils.widgets.text("schema", "", "Schema (default $MOLPIPE_SCHEMA)")

# COMMAND ----------

from molpipe.databricks.notebook import notebook_catalog
from molpipe.registry import runs as mlruns

catalog = notebook_catalog(spark, dbutils.widgets.get("catalog"), dbutils.widgets.get("schema"))
experiments = mlruns.molpipe_experiments(catalog.settings, catalog.databricks)
test_metric = "test_" + dbutils.widgets.get("metric")
curve_metric = dbutils.widgets.get("curve")
runs = mlruns.training_runs(experiments)
print(f"{len(runs)} training runs in {len(experiments)} experiment(s)")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Metrics table
# MAGIC Newest first; `registered` is the model version the run became.

# COMMAND ----------

display(runs)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Best runs by the test metric, and their learning curves

# COMMAND ----------

ascending = test_metric.endswith(("rmse", "mae"))  # errors: lower is better
best = (
    runs.dropna(subset=[test_metric])
    .sort_values(test_metric, ascending=ascending)
    .head(int(dbutils.widgets.get("runs")))
)
display(best[["run_id", "model", "registered", test_metric, "best_epoch", "epochs", "learning_rate"]])

# COMMAND ----------

histories = mlruns.metric_histories(best["run_id"].tolist(), curve_metric)
display(mlruns.comparison_figure(best, histories, test_metric, curve_metric))
