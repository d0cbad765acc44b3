"""Job task entry point: `python jobs/featurize.py ...` takes exactly the arguments of `molpipe featurize`.

Thin on purpose: Databricks job tasks (and anyone without the console script) run this file; the work is in
molpipe.featurize and is tested there.
"""

import sys

from molpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["featurize", *sys.argv[1:]]))
