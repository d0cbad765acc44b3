"""Job task entry point: `python jobs/split.py ...` takes exactly the arguments of `molpipe split`.

Thin on purpose: Databricks job tasks (and anyone without the console script) run this file; the work is in
molpipe.split and is tested there.
"""

import sys

from molpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["split", *sys.argv[1:]]))
