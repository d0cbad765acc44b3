"""Job task: `python jobs/featurize.py ARGS` is `molpipe featurize ARGS` (see `molpipe featurize --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("featurize")
