"""Job task: `python jobs/split.py ARGS` is `molpipe split ARGS` (see `molpipe split --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("split")
