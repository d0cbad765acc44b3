"""Job task: `python jobs/quality_monitor.py ARGS` is `molpipe quality-monitor ARGS`
(see `molpipe quality-monitor --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("quality-monitor")
