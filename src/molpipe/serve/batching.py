"""Adaptive micro-batching: concurrent requests share one prediction call when the runner is busy.

A prediction call has a cost of its own besides its molecules (a pandas frame, a torch forward pass whose matrix
products are far cheaper per row on 32 rows than on one, the hop to a thread or a worker process). Under load
:class:`BatchingRunner` turns N concurrent single-SMILES requests into one call of N molecules:

* a request goes straight to the runner while one of its ``slots`` (prediction threads or worker processes) is
  free, so an idle server answers a lone request with no added delay (no fixed batching window);
* while every slot is busy, arriving requests wait in order; when a slot frees, all of them (up to
  ``max_molecules``) go as one call, and each request gets back its own rows.

Everything runs on the event loop's thread (no locks). A request that times out or is cancelled while waiting is
dropped from its batch; a failing call fails only the requests in it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

from molpipe.serve.runner_base import Runner


class BatchingRunner(Runner):
    def __init__(self, inner: Runner, *, slots: int, max_molecules: int):
        self.inner = inner
        self.labels = inner.labels
        self.slots = max(slots, 1)
        self.max_molecules = max(max_molecules, 1)
        self._waiting: deque[tuple[list[str], asyncio.Future]] = deque()
        self._busy = 0
        self._tasks: set[asyncio.Task] = set()  # the event loop keeps only weak references to tasks
        self.calls = 0  # prediction calls made, and the requests they carried: requests / calls = the batching
        self.requests = 0

    async def predict(self, smiles: Sequence[str]) -> list[dict[str, Any]]:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((list(smiles), future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._waiting and self._busy < self.slots:
            group, size = [], 0
            while self._waiting and (not group or size + len(self._waiting[0][0]) <= self.max_molecules):
                smiles, future = self._waiting.popleft()
                if not future.done():  # a request cancelled while it waited (its timeout) is not predicted
                    group.append((smiles, future))
                    size += len(smiles)
            if not group:
                return
            self._busy += 1
            self.calls += 1
            self.requests += len(group)
            task = asyncio.get_running_loop().create_task(self._run(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, group: list[tuple[list[str], asyncio.Future]]) -> None:
        try:
            rows = await self.inner.predict([s for smiles, _ in group for s in smiles])
        except Exception as exc:  # noqa: BLE001 (handed to each request of the call, where the app answers it)
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
        else:
            start = 0
            for smiles, future in group:
                if not future.done():
                    future.set_result(rows[start : start + len(smiles)])
                start += len(smiles)
        finally:
            self._busy -= 1
            self._dispatch()

    def warm(self) -> None:
        self.inner.warm()

    def close(self) -> None:
        self.inner.close()
