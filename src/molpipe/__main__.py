import sys

from molpipe.cli import main

if __name__ == "__main__":
    sys.exit(main())
