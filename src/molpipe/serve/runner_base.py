"""The interface predictions are driven through: :class:`Runner`.

It has a module of its own so that the dependencies point one way: :mod:`~molpipe.serve.runner` (the runners that
predict, and the factory that may wrap one for micro-batching) depends on :mod:`~molpipe.serve.batching`, and both
depend on this interface, which depends on neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Runner:
    """Runs :func:`~molpipe.serve.runner.predict_rows` for the event loop; ``labels`` are the model's prediction
    labels."""

    labels: tuple[str, ...] = ()

    async def predict(self, smiles: Sequence[str]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def warm(self) -> None:
        """Return only once every worker has the model loaded and has predicted once."""

    def close(self) -> None:
        raise NotImplementedError
