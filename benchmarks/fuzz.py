"""The fuzz suites with more cases than the fast suite: the same tests, strategies and checks, each with SCALE times
its examples.

    python benchmarks/fuzz.py                      # --scale 10: 6 to 9 min on 2 shared cores
    python benchmarks/fuzz.py --scale 3 -k parquet --json

Runs pytest, in this process, on ``tests/fuzz`` (mutated SMILES through standardization and the featurizers, odd
CSV/TSV/SMILES/SDF and Parquet files through the readers) and ``tests/serve/test_fuzz_api.py`` (the REST API
against its OpenAPI, token off and on) with ``FUZZ_SCALE=SCALE``, which multiplies each test's ``max_examples``. A
case is counted when hypothesis reports it run (its observability callback): the cases that ran, explicit examples
included, not the number asked for; inputs hypothesis discarded before the test finished (an overrun, a filtered
draw) are not cases. Prints per target (a test; for the API one per operation and token setting): cases run,
failed cases (must be 0; shrinking a failure counts each try), the seconds of its call; exits 1 if any test failed.
With ``--json``, one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TARGETS = [ROOT / "tests" / "fuzz", ROOT / "tests" / "serve" / "test_fuzz_api.py"]


class Tally:
    """A pytest plugin: per test, the cases hypothesis ran and how many failed, and the seconds of its call."""

    def __init__(self):
        self.cases: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    def observe(self, observation, _thread_id) -> None:
        if observation.type == "test_case" and observation.status != "gave_up":
            self.cases[observation.property] += 1  # the property is the test's pytest node id
            self.failed[observation.property] += observation.status == "failed"

    def pytest_configure(self, config) -> None:
        from hypothesis.internal import observability

        observability.OBSERVABILITY_COLLECT_COVERAGE = False  # line coverage per case: slow, and not needed here
        observability.add_observability_callback(self.observe, all_threads=True)

    def pytest_unconfigure(self, config) -> None:
        from hypothesis.internal import observability

        observability.remove_observability_callback(self.observe)

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call":
            self.seconds[report.nodeid] = round(report.duration, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10, help="times each test's examples in the fast suite")
    parser.add_argument("-k", dest="select", help="only the tests pytest's -k expression selects")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.scale < 1:
        parser.error(f"--scale must be at least 1, got {args.scale}")

    import pytest

    os.environ["FUZZ_SCALE"] = str(args.scale)  # read by the test modules when pytest imports them
    tally = Tally()
    started = time.perf_counter()
    status = pytest.main(["-q", *(["-k", args.select] if args.select else []), *map(str, TARGETS)], plugins=[tally])
    seconds = round(time.perf_counter() - started, 1)
    targets = [
        {"target": name, "cases": tally.cases[name], "failed": tally.failed[name], "seconds": tally.seconds.get(name)}
        for name in tally.cases
    ]
    for t in targets:
        print(f"{t['cases']:>7,} cases  {t['failed']:>3} failed  {t['seconds']:>6} s  {t['target'].split('::')[-1]}")
    total, failed = sum(tally.cases.values()), sum(tally.failed.values())
    print(f"{total:,} cases at --scale {args.scale}, {failed} failed, {seconds} s in all (pytest exit {int(status)})")
    if args.json:
        summary = {"scale": args.scale, "cases": total, "failed": failed, "seconds": seconds, "exit": int(status)}
        print(json.dumps({**summary, "targets": targets}))
    sys.exit(0 if status == 0 and failed == 0 else 1)


if __name__ == "__main__":
    main()
