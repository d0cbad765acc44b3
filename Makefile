# The two commands of the quick start: `make demo` and `make test`. Both create .venv on first use. uv installs
# the exact pins of constraints.txt (55 s on a fresh machine against pip's 127 s from its cache), compiling their
# bytecode as pip does: without it every worker process (Spark's, the process pools) compiled torch and mlflow
# again at each import (the Sail pass took 947 s in one CI run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: install demo test test-sail test-spark bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt uv
	$(PY) -m uv pip install --python $(PY) --quiet --compile-bytecode -c constraints.txt -e '.[local,test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m molpipe demo

# The whole suite on embedded Sail (the cluster tests start their own two-executor Apache Spark) and, at the same
# time, every Spark-engine test again on Apache Spark + Delta Lake (local[2]); see docs/development.md. Each pass
# prints its report when it ends, with its 15 slowest steps (where the 15 minutes go). One pass alone: `make test-sail`
# or `make test-spark`.
test: $(STAMP)
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sail test-spark

test-sail: $(STAMP)
	$(PY) -m pytest --durations=15

test-spark: $(STAMP)
	$(PY) -m pytest --engine spark -m spark --durations=15

bench: $(STAMP)
	$(PY) benchmarks/featurize.py --n 10000

clean:
	rm -rf .molpipe reports .pytest_cache
