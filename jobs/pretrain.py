"""Job task: `python jobs/pretrain.py ARGS` is `molpipe pretrain ARGS` (see `molpipe pretrain --help`)."""

from molpipe.cli import run_job

if __name__ == "__main__":  # forkserver workers import __main__: the job must not run again in them
    run_job("pretrain")
