"""Job task entry point: `python jobs/ingest.py ...` takes exactly the arguments of `molpipe ingest`.

Thin on purpose: Databricks job tasks (and anyone without the console script) run this file; the work is in
molpipe.ingest and is tested there.
"""

import sys

from molpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
