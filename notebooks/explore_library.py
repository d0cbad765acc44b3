# Databricks notebook source
# MAGIC %md
# MAGIC # Explore a library
# MAGIC
# MAGIC What is in a library after `molpipe featurize`: how many molecules, labels and rejects; how its key
# MAGIC descriptors are distributed (actives against inactives for a 0/1 label); which scaffolds dominate it.
# MAGIC
# MAGIC Run it on a cluster with the molpipe wheel installed (the one `databricks bundle deploy` uploads), or locally
# MAGIC on the embedded engine. Set the widgets, then *Run all*.

# COMMAND ----------

dbutils.widgets.text("library", "hiv", "Library")
dbutils.widgets.text("label", "HIV_active", "Label (optional)")
dbutils.widgets.text("catalog", "", "Catalog (Databricks; default $MOLPIPE_CATALOG)")
dbutils.widgets.text("schema", "", "Schema (default $MOLPIPE_SCHEMA)")

# COMMAND ----------

from molpipe.databricks import explore
from molpipe.databricks.notebook import notebook_catalog

library = dbutils.widgets.get("library")
label = dbutils.widgets.get("label") or None
catalog = notebook_catalog(spark, dbutils.widgets.get("catalog"), dbutils.widgets.get("schema"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The library in numbers

# COMMAND ----------

display(explore.library_summary(catalog, library))

# COMMAND ----------

# MAGIC %md
# MAGIC Why rows were rejected (every rejected row keeps its file, row number and the reason):

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT reason, count(*) AS rows, first(detail) AS example
# MAGIC FROM quarantine
# MAGIC WHERE library = :library
# MAGIC GROUP BY reason
# MAGIC ORDER BY rows DESC

# COMMAND ----------

# MAGIC %md
# MAGIC ## Property distributions
# MAGIC RDKit 2D descriptors from the `features` table (computed where a molecule lacks them), on up to 20,000
# MAGIC molecules.

# COMMAND ----------

properties = explore.property_sample(catalog, library, label=label)
display(properties.describe().T)

# COMMAND ----------

display(explore.property_figure(properties, label=label))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Scaffolds
# MAGIC The most frequent Bemis-Murcko scaffolds, with the share of the library and, for the label, how many of
# MAGIC each scaffold's molecules are measured and their mean. A scaffold split keeps each of these whole.

# COMMAND ----------

scaffolds = explore.top_scaffolds(catalog, library, n=20, label=label)
display(scaffolds)

# COMMAND ----------

display(explore.scaffold_grid(scaffolds))
