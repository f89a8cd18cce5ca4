"""Start `python app.py` as a server and drive it like its users: shared by the load benches and the end-to-end
tests (tests/apphelpers.py imports it; a bench never imports tests/)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log_path: Path, env: dict | None = None, timeout: float = 180.0,
              args: list[str] | None = None, own_session: bool = True) -> tuple[str, subprocess.Popen]:
    """Start `python app.py` on a free port and return (url, process) once the page answers (HTTP 200, or 401
    behind a login); the server log goes to `log_path`. Stop it with `stop_app`. `own_session=False` keeps it in
    the caller's session (its own process group), where the kernel weighs it against the caller's other children
    by their priorities rather than giving each session an equal share."""
    port = free_port()
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    full_env.pop("TUNER_DEMO_RUNS", None)  # demo-only mode only where a test asks for it
    full_env.update(env or {})
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *(args or [])], cwd=ROOT, env=full_env,
                            stdout=log, stderr=subprocess.STDOUT,
                            **({"start_new_session": True} if own_session else {"process_group": 0}))
    proc.log_file = log
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    try:
        while True:
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    return url, proc
            except urllib.error.HTTPError:
                return url, proc  # answering: a login page says 401 until someone signs in
            except OSError:
                time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(Path(log_path).read_text(errors="replace")[-3000:])
            if time.time() > deadline:
                raise RuntimeError(f"app did not answer within {timeout:.0f} s")
    except BaseException:
        stop_app(proc)
        raise


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    proc.log_file.close()


@contextlib.contextmanager
def running_app(log_path: Path, env: dict | None = None, timeout: float = 180.0, args: list[str] | None = None):
    """`start_app` ... `stop_app` around a block: yields (url, process)."""
    url, proc = start_app(log_path, env, timeout, args)
    try:
        yield url, proc
    finally:
        stop_app(proc)


def load_classify(url: str, run_id: str, clients: int, requests_each: int, auth=None, sentences=None):
    """`clients` gradio_client Clients in threads, started together, each sending `requests_each` /classify calls.
    An answer without a label counts as an error. Returns (latencies in ms, error messages, wall seconds)."""
    from gradio_client import Client

    sentences = sentences or ["I was charged twice for my subscription", "my parcel never arrived",
                              "the app crashes on start", "please update the billing address",
                              "tracking says delivered but nothing came"]
    latencies, errors, lock = [], [], threading.Lock()
    barrier = threading.Barrier(clients)

    def worker(i):
        try:
            client = Client(url, auth=auth, verbose=False, httpx_kwargs={"timeout": 600})
        except Exception as exc:
            with lock:
                errors.append(f"connect: {exc}")
            barrier.abort()
            return
        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            pass
        for j in range(requests_each):
            t0 = time.perf_counter()
            try:
                out = client.predict(run_id, sentences[(i + j) % len(sentences)], api_name="/classify")
                assert out["label"]
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)
            except Exception as exc:
                with lock:
                    errors.append(str(exc)[:200])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    return latencies, errors, time.perf_counter() - t0
