"""Job task: `python jobs/select.py ARGS` is `molpipe select ARGS` (see `molpipe select --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("select")
