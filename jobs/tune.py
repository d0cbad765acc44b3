"""Job task: `python jobs/tune.py ARGS` is `molpipe tune ARGS` (see `molpipe tune --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("tune")
