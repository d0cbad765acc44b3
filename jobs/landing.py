"""Job task: `python jobs/landing.py ARGS` is `molpipe landing ARGS` (see `molpipe landing --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("landing")
