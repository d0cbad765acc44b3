"""Job task: `python jobs/ingest.py ARGS` is `molpipe ingest ARGS` (see `molpipe ingest --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("ingest")
