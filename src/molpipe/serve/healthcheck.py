"""The container's HEALTHCHECK: exit 0 when the local service answers ``/ready`` with 200, else 1.

``python -m molpipe.serve.healthcheck`` reads the port from the same settings as the server
(``MOLPIPE_SERVE__PORT``, molpipe.toml), so the probe follows a changed port without editing the image.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from molpipe.config import load_settings


def check(port: int, path: str = "/ready", timeout_s: float = 4.0) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: {exc.code}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def main() -> int:
    healthy, message = check(load_settings().serve.port)
    print(message)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
