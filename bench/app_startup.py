"""Cold start of the page: `python app.py` vs. a bare Gradio hello-world, spawn to first HTTP 200 (issue #6).

    python -m bench.app_startup                 # 3 rounds, A B A B ..., medians
    python -m bench.app_startup --rounds 5

Both are started the same way (a child process, same interpreter, same environment, a free port through
TUNER_PORT / --port, `queue().launch()` on 127.0.0.1) and polled every 20 ms until `GET /` answers 200; the
child is then stopped. The hello-world is a one-textbox `gr.Blocks` written to a temporary file. Variants are
interleaved in one process and the ratio of the medians is what counts (absolute seconds drift with load).
Target: app / hello-world <= 1.3x.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.3

HELLO = '''\
import argparse
import gradio as gr

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
args = parser.parse_args()
with gr.Blocks(title="hello") as demo:
    name = gr.Textbox(label="Name")
    out = gr.Textbox(label="Greeting")
    name.submit(lambda n: f"Hello {n}!", name, out)
demo.queue(default_concurrency_limit=1).launch(server_name="127.0.0.1", server_port=args.port)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_200(argv: list[str], env: dict, port: int, timeout: float) -> float:
    """Seconds from spawning `argv` until http://127.0.0.1:port/ answers 200 (the child is stopped after)."""
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{argv[1]} exited with {proc.returncode} before serving:\n"
                                 + proc.stderr.read().decode(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - t0
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                pass
            if time.perf_counter() - t0 > timeout:
                raise SystemExit(f"{argv[1]} did not answer 200 within {timeout:.0f} s")
            time.sleep(0.02)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: only the child and what it started
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="A B rounds (interleaved); at least 3")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one start")
    args = ap.parse_args()
    rounds = max(3, args.rounds)

    tmp = Path(tempfile.mkdtemp(prefix="tuner-startup-"))
    hello = tmp / "hello_gradio.py"
    hello.write_text(HELLO, encoding="utf-8")
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", TUNER_RUNS_DIR=str(tmp / "runs"),
               HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("TUNER_PORT", None)
    variants = {
        "python app.py": lambda port: [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
        "bare Gradio hello-world": lambda port: [sys.executable, str(hello), "--port", str(port)],
    }
    # one unmeasured start of each first, so both read their files from a warm page cache
    for make in variants.values():
        port = free_port()
        time_to_200(make(port), env, port, args.timeout)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))  # A B, B A, ... : no order bias
        for name in order:
            port = free_port()
            times[name].append(time_to_200(variants[name](port), env, port, args.timeout))
            print(f"round {r + 1}: {name}: {times[name][-1]:.2f} s", file=sys.stderr)

    app, base = (statistics.median(times[k]) for k in variants)
    ratio = app / base
    print(f"\nStart to first HTTP 200 ({rounds} interleaved rounds, median; {os.cpu_count()} CPUs)\n")
    print("| variant | median s | rounds (s) |")
    print("|---|---:|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} | {', '.join(f'{t:.2f}' for t in ts)} |")
    print(f"| **ratio app / hello-world** | **{ratio:.2f}x** | target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'} |")


if __name__ == "__main__":
    main()
