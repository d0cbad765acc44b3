"""Where molpipe runs: the Spark engines (embedded Sail, an Apache Spark server, Databricks), worker pools, progress."""
