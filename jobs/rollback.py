"""Job task: `python jobs/rollback.py ARGS` is `molpipe rollback ARGS` (see `molpipe rollback --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("rollback")
