"""Job task: `python jobs/maintain.py ARGS` is `molpipe maintain ARGS` (see `molpipe maintain --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("maintain")
