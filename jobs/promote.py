"""Job task: `python jobs/promote.py ARGS` is `molpipe promote ARGS` (see `molpipe promote --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("promote")
