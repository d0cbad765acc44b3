"""A fake Databricks workspace on loopback: the real ``WorkspaceClient`` talks HTTP to it.

Routes answer ``(method, path)`` with a JSON body, a ``(status, body)`` pair, or a function of the request; unknown
routes answer 404 the way Databricks does (``error_code`` + ``message``), which the SDK maps to ``NotFound``. Every
request is recorded (method, path, query, JSON body) for the tests to check what was asked.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest


class FakeWorkspace:
    def __init__(self):
        self.routes: dict[tuple[str, str], object] = {}
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, method: str, path: str, answer) -> None:
        self.routes[(method, path)] = answer

    def asked(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if (r["method"], r["path"]) == (method, path)]

    def client(self):
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.host, token="dapi-fake", auth_type="pat")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                request = {"method": method, "path": url.path, "query": parse_qs(url.query), "body": body}
                fake.requests.append(request)
                answer = fake.routes.get((method, url.path))
                if callable(answer):
                    answer = answer(request)
                status, payload = answer if isinstance(answer, tuple) else (200, answer)
                if answer is None:
                    status, payload = 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{url.path} not found"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def do_PATCH(self):
                self._answer("PATCH")

            def log_message(self, *args):  # quiet test output
                pass

        return Handler


@pytest.fixture
def workspace(monkeypatch):
    import os

    for name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
        monkeypatch.delenv(name)
    fake = FakeWorkspace()
    fake._thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
