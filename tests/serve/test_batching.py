"""Adaptive micro-batching, with a runner that records its calls: no delay when idle, waiting requests share a
call when busy, bounded calls, failures and cancellations confined to their requests."""

from __future__ import annotations

import asyncio

import pytest

from molpipe.serve.batching import BatchingRunner
from molpipe.serve.runner_base import Runner


class Recording(Runner):
    """Answers each SMILES with its length after ``delay`` seconds; fails calls that contain ``"boom"``."""

    labels = ("y",)

    def __init__(self, delay: float = 0.05):
        self.delay = delay
        self.calls: list[list[str]] = []

    async def predict(self, smiles):
        self.calls.append(list(smiles))
        await asyncio.sleep(self.delay)
        if "boom" in smiles:
            raise RuntimeError("the model failed")
        return [{"smiles": s, "valid": True, "predictions": {"y": float(len(s))}} for s in smiles]

    def close(self) -> None:
        pass


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_lone_request_goes_straight_to_the_runner():
    inner = Recording()
    runner = BatchingRunner(inner, slots=1, max_molecules=64)

    async def scenario():
        started = asyncio.get_running_loop().time()
        rows = await runner.predict(["CCO"])
        return rows, asyncio.get_running_loop().time() - started

    rows, seconds = run(scenario())
    assert rows == [{"smiles": "CCO", "valid": True, "predictions": {"y": 3.0}}]
    assert inner.calls == [["CCO"]] and seconds < 0.05 + 0.04  # the call's own time, no batching window


def test_requests_that_wait_while_busy_share_one_call_in_order():
    inner = Recording()
    runner = BatchingRunner(inner, slots=1, max_molecules=64)

    async def scenario():
        return await asyncio.gather(*(runner.predict(["C" * n]) for n in range(1, 11)))

    answers = run(scenario())
    assert [rows[0]["predictions"]["y"] for rows in answers] == [float(n) for n in range(1, 11)]
    assert inner.calls == [["C"], ["C" * n for n in range(2, 11)]]  # the first at once, the nine waiting together
    assert (runner.calls, runner.requests) == (2, 10)


def test_a_call_holds_at_most_max_molecules_and_never_splits_a_request():
    inner = Recording()
    runner = BatchingRunner(inner, slots=1, max_molecules=4)

    async def scenario():
        return await asyncio.gather(
            runner.predict(["A"]),
            runner.predict(["B", "B"]),
            runner.predict(["C", "C"]),
            runner.predict(["D"] * 6),
            runner.predict(["E"]),
        )

    answers = run(scenario())
    assert [len(rows) for rows in answers] == [1, 2, 2, 6, 1]
    # a request larger than the bound goes alone; the others fill calls up to the bound
    assert inner.calls == [["A"], ["B", "B", "C", "C"], ["D"] * 6, ["E"]]


def test_slots_run_calls_side_by_side():
    inner = Recording(delay=0.1)
    runner = BatchingRunner(inner, slots=3, max_molecules=64)

    async def scenario():
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(runner.predict([s]) for s in "ABC"))
        return asyncio.get_running_loop().time() - started

    assert run(scenario()) < 0.18  # three calls at once, not one after the other
    assert inner.calls == [["A"], ["B"], ["C"]]


def test_a_failing_call_fails_only_its_own_requests():
    inner = Recording()
    runner = BatchingRunner(inner, slots=1, max_molecules=64)

    async def scenario():
        first = asyncio.ensure_future(runner.predict(["CCO"]))
        await asyncio.sleep(0)  # the first call is running: the next two wait, and go together
        doomed = [asyncio.ensure_future(runner.predict([s])) for s in ("boom", "CCN")]
        await asyncio.sleep(0)
        return await first, await asyncio.gather(*doomed, return_exceptions=True), await runner.predict(["CC"])

    first, doomed, after = run(scenario())
    assert first[0]["smiles"] == "CCO" and after[0]["smiles"] == "CC"  # the runner goes on serving
    assert all(isinstance(e, RuntimeError) and "the model failed" in str(e) for e in doomed)


def test_a_request_cancelled_while_waiting_is_not_predicted():
    inner = Recording()
    runner = BatchingRunner(inner, slots=1, max_molecules=64)

    async def scenario():
        first = asyncio.ensure_future(runner.predict(["CCO"]))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(runner.predict(["GONE"]))
        kept = asyncio.ensure_future(runner.predict(["CCC"]))
        await asyncio.sleep(0)
        waiting.cancel("its timeout fired")  # while the first call ran
        with pytest.raises(asyncio.CancelledError, match="its timeout fired"):
            await waiting
        return await first, await kept

    first, kept = run(scenario())
    assert kept[0]["smiles"] == "CCC"
    assert inner.calls == [["CCO"], ["CCC"]]
