"""Running the service for a test: in-process (TestClient) or a real uvicorn server on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@contextmanager
def started(app) -> Iterator[TestClient]:
    """A client of the running app (lifespan started), once its model is loaded."""
    with TestClient(app, raise_server_exceptions=False) as client:
        assert app.state.store.wait_ready(120), app.state.store.last_error
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def uvicorn_server(app) -> Iterator[str]:
    """The app under uvicorn in a thread; yields its base URL once the model is loaded."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        assert app.state.store.wait_ready(120), app.state.store.last_error
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
