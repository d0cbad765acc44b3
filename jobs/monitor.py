"""Job task: `python jobs/monitor.py ARGS` is `molpipe monitor ARGS` (see `molpipe monitor --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("monitor")
