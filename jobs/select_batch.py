"""Job task: `python jobs/select_batch.py ARGS` is `molpipe select ARGS` (see `molpipe select --help`).

Not `jobs/select.py`: Python puts a script's folder first on sys.path, so a `select.py` there shadows the standard
library's `select` module and every job in this folder then fails on `import socket` (pyarrow, pandas, ...)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("select")
