"""Job task: `python jobs/score.py ARGS` is `molpipe score ARGS` (see `molpipe score --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("score")
