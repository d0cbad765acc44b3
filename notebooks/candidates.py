# Databricks notebook source
# MAGIC %md
# MAGIC # Query the candidates
# MAGIC
# MAGIC A scoring run of `molpipe score` in SQL: the ranked pool in the `candidates` table, its scaffolds, what went
# MAGIC to the lab (`selections`), what came back (`lab_results`) and whether the run has drifted from the model's
# MAGIC training data (`monitoring`). The SQL cells read the chosen run as the view `run_candidates`.

# COMMAND ----------

dbutils.widgets.text("library", "hiv", "Library")
dbutils.widgets.text("run", "", "Scoring run (default: the library's latest)")
dbutils.widgets.text("ad_similarity", "0.35", "Applicability domain: min Tanimoto to the training set")
dbutils.widgets.text("catalog", "", "Catalog (Databricks; default $MOLPIPE_CATALOG)")
dbutils.widgets.text("schema", "", "Schema (default $MOLPIPE_SCHEMA)")

# COMMAND ----------

from pyspark.sql import functions as F

from molpipe.databricks import explore
from molpipe.databricks.notebook import notebook_catalog

catalog = notebook_catalog(spark, dbutils.widgets.get("catalog"), dbutils.widgets.get("schema"))
library = dbutils.widgets.get("library")
run_id = dbutils.widgets.get("run")
candidates = spark.table("candidates")
if not run_id:  # the library's latest scoring run
    latest = candidates.where(F.col("library") == library).orderBy(F.desc("scored_at")).first()
    run_id = latest["scoring_run_id"] if latest else ""
# the SQL cells below read the chosen run as the view `run_candidates` (filters, not SQL parameters: Apache Spark
# 4.1.1+ leaves named parameters unbound, apache/spark#55392)
candidates.where(F.col("scoring_run_id") == run_id).createOrReplaceTempView("run_candidates")
tables = {t.name for t in spark.catalog.listTables()}
print("scoring run", run_id)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Every scoring run

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT scoring_run_id, library, model_name, model_version, model_alias, acquisition,
# MAGIC        count(*) AS molecules, round(avg(prediction), 4) AS mean_prediction,
# MAGIC        round(avg(ad_similarity), 3) AS mean_ad_similarity, max(scored_at) AS scored_at
# MAGIC FROM candidates
# MAGIC GROUP BY scoring_run_id, library, model_name, model_version, model_alias, acquisition
# MAGIC ORDER BY scored_at DESC

# COMMAND ----------

# MAGIC %md
# MAGIC ## The top of the run

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT rank, smiles, round(prediction, 4) AS prediction, round(uncertainty, 4) AS uncertainty,
# MAGIC        round(ad_similarity, 3) AS ad_similarity, round(acquisition_score, 4) AS acquisition_score, scaffold
# MAGIC FROM run_candidates
# MAGIC ORDER BY rank
# MAGIC LIMIT 25

# COMMAND ----------

# MAGIC %md
# MAGIC ## Scaffolds among the best 100, in and out of the applicability domain

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT scaffold, count(*) AS molecules, min(rank) AS best_rank, round(avg(prediction), 4) AS mean_prediction,
# MAGIC        sum(CASE WHEN ad_similarity >= CAST(:ad_similarity AS DOUBLE) THEN 1 ELSE 0 END) AS in_domain
# MAGIC FROM run_candidates
# MAGIC WHERE rank <= 100
# MAGIC GROUP BY scaffold
# MAGIC ORDER BY molecules DESC, best_rank
# MAGIC LIMIT 20

# COMMAND ----------

# MAGIC %md
# MAGIC ## Prediction, uncertainty and domain

# COMMAND ----------

run = spark.sql(
    "SELECT prediction, uncertainty, ad_similarity, acquisition_score, rank FROM run_candidates ORDER BY rank LIMIT 50000"
).toPandas()
display(explore.candidate_figure(run, float(dbutils.widgets.get("ad_similarity"))))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Sent to the lab, and measured
# MAGIC The batches `molpipe select` picked from this run, and the lab's results for those molecules so far.

# COMMAND ----------

if "selections" in tables:
    measured = "lab_results" in tables  # the lab's values once they are back
    spark.table("selections").where(F.col("scoring_run_id") == run_id).createOrReplaceTempView("run_selections")
    display(
        spark.sql(
            "SELECT s.batch_id, s.position, s.smiles, round(s.prediction, 4) AS prediction, s.uncertainty"
            + (", r.label, r.value AS measured" if measured else "")
            + " FROM run_selections s"
            + (" LEFT JOIN lab_results r ON s.library = r.library AND s.inchikey = r.inchikey" if measured else "")
            + " ORDER BY s.batch_id, s.position"
        )
    )
else:
    print("no lab batch selected yet: molpipe select --run", run_id)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Drift
# MAGIC What `molpipe monitor` measured for this run (PSI of key descriptors, prediction shift, fraction outside the
# MAGIC applicability domain); `drifted` rows are the reasons for a retrain.

# COMMAND ----------

if "monitoring" in tables:
    display(
        spark.table("monitoring")
        .where(F.col("scoring_run_id") == run_id)
        .select(
            "metric", "feature", F.round("value", 4).alias("value"), "threshold", "drifted", "n_reference", "n_current"
        )
        .orderBy(F.desc("drifted"), "metric", F.desc("value"))
    )
else:
    print("not monitored yet: molpipe monitor --run", run_id)
