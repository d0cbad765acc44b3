"""Two jobs at once on one home: is the result one that running them one after the other gives?

Each pair of commands runs on a copy of a template home (benchmarks/crash_injection.py's templates, scenarios and
checks), the second started together with the first and then a few moments into the first's own run time. A trial
passes when both jobs succeed, or one fails with one line naming the other (``Busy``, exit status 2), and then the
home passes every check of the crash sweep (rows accounted for exactly once, no duplicates by any key, aliases on
versions with their card, no staging left) and holds what one of the two serial orders leaves: the definition of
serializable. Prints a line per trial and a table per pair.

    python benchmarks/concurrency.py                  # ~20 min on 2 cores
    python benchmarks/concurrency.py --only "featurize + featurize" --offsets 0
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import crash_injection as crash
from crash_injection import SCENARIOS, Scenario

INGEST_ESOL = Scenario(
    "ingest esol",
    "scored",
    (
        "ingest",
        "{data}/esol_sample.csv",
        "--library",
        "esol",
        "--label-cols",
        "measured log solubility in mols per litre",
    ),
)
INGEST_MORE = Scenario(  # a second file into the library a featurize works on
    "ingest into hiv", "ingested", ("ingest", "{data}/bad_rows.csv", "--library", "hiv")
)
MAINTAIN = Scenario("maintain", "scored", ("maintain",))


@dataclass(frozen=True)
class Pair:
    name: str
    template: str
    first: Scenario
    second: Scenario


PAIRS = {
    p.name: p
    for p in [
        Pair("featurize + featurize", "ingested", SCENARIOS["featurize"], SCENARIOS["featurize"]),
        # the longer job first, so that the shorter one starts at moments throughout it
        Pair("featurize + ingest", "ingested", SCENARIOS["featurize"], INGEST_MORE),
        Pair("score + ingest", "scored", SCENARIOS["score"], INGEST_ESOL),
        Pair("score --run-id + score --run-id", "scored", SCENARIOS["score --run-id"], SCENARIOS["score --run-id"]),
        Pair("score + maintain", "scored", SCENARIOS["score"], MAINTAIN),
        Pair("landing + landing", "empty", SCENARIOS["landing"], SCENARIOS["landing"]),
        Pair("promote + promote", "challenger", SCENARIOS["promote"], SCENARIOS["promote"]),
    ]
}


@dataclass
class Trial:
    pair: str
    offset_s: float
    codes: tuple[int, int]
    waited: bool  # one of them said it waited for the other (a lock) or retried a commit
    problems: list[str]


def serial_outcomes(pair: Pair, template: Path, spark, scratch: Path) -> tuple[list[dict], float]:
    """What each serial order leaves (the home's :func:`crash_injection.outcome`), and the first job's own time."""
    found, first_s = [], 0.0
    for number, order in enumerate([(pair.first, pair.second), (pair.second, pair.first)]):
        work = crash.fresh(template, scratch / f"serial-{number}")
        for position, scenario in enumerate(order):
            done = crash.run(scenario, work)
            if done.returncode != 0:
                raise RuntimeError(f"{pair.name}: {scenario.name} failed on its own:\n{done.stderr[-3000:]}")
            if number == 0 and position == 0:
                first_s = done.seconds
        catalog, models = crash.open_home(spark, work)
        if wrong := crash.problems(catalog, models):
            raise RuntimeError(f"{pair.name} run serially breaks the checks: {wrong}")
        found.append(crash.outcome(catalog, models, work))
        shutil.rmtree(work)
    return found, first_s


def together(pair: Pair, work: Path, offset_s: float) -> tuple[crash.Run, crash.Run]:
    """The two commands on ``work``, the second started ``offset_s`` after the first."""
    runs: dict[int, crash.Run] = {}

    def go(index: int, scenario: Scenario, delay: float) -> None:
        time.sleep(delay)
        runs[index] = crash.run(scenario, work)

    threads = [
        threading.Thread(target=go, args=(0, pair.first, 0.0)),
        threading.Thread(target=go, args=(1, pair.second, offset_s)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs[0], runs[1]


def trial(pair: Pair, template: Path, spark, *, scratch: Path, offset_s: float, serial: list[dict]) -> Trial:
    """One concurrent run of ``pair`` and what is wrong after it (nothing: it passed)."""
    work = crash.fresh(template, scratch / f"trial-{offset_s:.1f}")
    runs = together(pair, work, offset_s)
    found = [
        f"{scenario.name} failed ({done.returncode}): {done.stderr.strip()[-1500:]}"
        for scenario, done in zip((pair.first, pair.second), runs)
        if done.returncode != 0 and not refused(done)
    ]
    if not found:
        catalog, models = crash.open_home(spark, work)
        found = crash.problems(catalog, models)
        state = crash.outcome(catalog, models, work)
        if not found and all(done.returncode == 0 for done in runs) and state not in serial:
            differs = sorted({key for order in serial for key in order if state.get(key) != order.get(key)})
            found = [f"a state neither serial order leaves ({', '.join(differs)})"]
    shutil.rmtree(work)
    waited = any("waiting for" in done.stderr or "retry" in done.stderr for done in runs)
    return Trial(pair.name, offset_s, (runs[0].returncode, runs[1].returncode), waited, found)


def refused(done: crash.Run) -> bool:
    """Whether the job failed as it should when the other holds on too long: status 2, one line naming it."""
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return done.returncode == 2 and ("is in use by" in last or "conflicted" in last)


def sweep(pair: Pair, template: Path, spark, *, scratch: Path, offsets: list[float]):
    """The pair at each offset (fractions of the first job's own time); yields a :class:`Trial` per offset."""
    serial, first_s = serial_outcomes(pair, template, spark, scratch)
    for fraction in offsets:
        yield trial(pair, template, spark, scratch=scratch, offset_s=round(fraction * first_s, 1), serial=serial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(PAIRS))
    parser.add_argument(
        "--offsets", default="0,0.25,0.5,0.75", help="the second job's start, as fractions of the first's own time"
    )
    args = parser.parse_args()

    from molpipe.config import load_settings
    from molpipe.runtime.engine import session

    pairs = [PAIRS[name.strip()] for name in args.only.split(",")] if args.only else list(PAIRS.values())
    offsets = [float(x) for x in args.offsets.split(",")]
    root = Path(tempfile.mkdtemp(prefix="molpipe-concurrency-"))
    started = time.monotonic()
    trials: list[Trial] = []
    try:
        with session(load_settings(environ={}).replace(home=str(root / "engine"))) as (_, catalog):
            templates = crash.build_templates(catalog.spark, root / "templates", {p.template for p in pairs})
            for pair in pairs:
                scratch = root / "trials" / pair.name.replace(" ", "")
                for t in sweep(pair, templates[pair.template], catalog.spark, scratch=scratch, offsets=offsets):
                    trials.append(t)
                    state = "consistent" if not t.problems else "BROKEN: " + "; ".join(t.problems)
                    waited = "waited/retried" if t.waited else ""
                    print(f"{t.pair:<32} +{t.offset_s:>5.1f}s  exit {t.codes}  {waited:<14} {state}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'pair':<32} {'trials':>6} {'both ok':>8} {'refused':>8} {'waited':>7} {'consistent':>11}")
    for pair in pairs:
        mine = [t for t in trials if t.pair == pair.name]
        ok = sum(1 for t in mine if t.codes == (0, 0))
        print(
            f"{pair.name:<32} {len(mine):>6} {ok:>8} {len(mine) - ok:>8} {sum(t.waited for t in mine):>7} "
            f"{sum(not t.problems for t in mine):>11}"
        )
    print(f"{len(trials)} trials in {time.monotonic() - started:,.0f} s")
    if any(t.problems for t in trials):
        raise SystemExit("two jobs at once left a home that no serial order leaves")


if __name__ == "__main__":
    main()
