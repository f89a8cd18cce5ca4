"""Start `python app.py` as a real server for the end-to-end tests and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(log_path: Path, env: dict | None = None, timeout: float = 180.0, args: list[str] | None = None):
    """Yield (url, process) once the page answers (HTTP 200, or 401 behind a login); the server log goes to `log_path`."""
    port = free_port()
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    full_env.pop("TUNER_DEMO_RUNS", None)  # demo-only mode only where a test asks for it
    full_env.update(env or {})
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *(args or [])], cwd=ROOT, env=full_env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    break
            except urllib.error.HTTPError:
                break  # answering: a login page says 401 until someone signs in
            except OSError:
                time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(Path(log_path).read_text(errors="replace")[-3000:])
            if time.time() > deadline:
                raise RuntimeError(f"app did not answer within {timeout:.0f} s")
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
