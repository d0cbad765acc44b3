"""Job task: `python jobs/train.py ARGS` is `molpipe train ARGS` (see `molpipe train --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("train")
