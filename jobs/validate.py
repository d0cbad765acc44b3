"""Job task: `python jobs/validate.py ARGS` is `molpipe validate ARGS` (see `molpipe validate --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("validate")
