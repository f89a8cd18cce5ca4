"""The demo's answers computed on the requests' own threads (before) against one compute thread (tuner/cpu/threads.py).

    python -m bench.cpu_threads                # 3 rounds
    python -m bench.cpu_threads --rounds 5

As in the app, requests arrive on a pool of handler threads (4 here, as Gradio's worker threads) and the
models are loaded on one of them. Each setting runs in a fresh process (libgomp's thread teams live as long as
their threads), the settings interleaved (A B, B A, ...), medians over the rounds. Measured, through the same
`tuner.inference` calls the page makes:
  * classify one SST-2 dev sentence (MiniLM + fresh LoRA adapter), p50 / p95 over 40 sentences;
  * a chat answer (~100M-parameter Llama-style model from a config, bench/demo_latency.py's): first text after
    the request, generated tokens/s;
  * batch prediction of SST-2 dev.tsv (872 rows), rows/s.
  * Try it while a chat is generating: one sentence's latency, with the chat still streaming.
`TUNER_CPU_TEAMS=threads` is the behaviour before the compute thread: each request on its handler thread, each
chat on a new thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {"each request on its own thread (before)": "threads", "one compute thread (tuner.cpu.threads)": "one"}
ROWS = [  # key, label, lower is better
    ("p50", "classify 1 sentence, p50 (ms)", True),
    ("p95", "classify 1 sentence, p95 (ms)", True),
    ("chat_first", "chat: first text (ms)", True),
    ("chat_tok_s", "chat: generated tokens/s", False),
    ("rows_s", "batch prediction, SST-2 dev (rows/s)", False),
    ("during_chat", "classify 1 sentence while a chat streams, p50 (ms)", True),
]


def measure(cls_id: str, chat_id: str) -> dict:
    """One process: load both models on a handler thread, then time each path from the handler threads."""
    import time

    from bench import demo_latency as dl
    from tuner import runs
    from tuner.inference import get_predictor

    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="handler")
    on_handler = lambda fn, *a: pool.submit(fn, *a).result()  # noqa: E731 - a request, as Gradio runs one
    cls = on_handler(get_predictor, runs.get_run(cls_id))
    chat = on_handler(get_predictor, runs.get_run(chat_id))
    texts = dl.sentences(40)
    for t in texts[:3]:  # warm-up
        on_handler(cls.predict_one, t)
    on_handler(dl.chat, chat, 4)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        on_handler(cls.predict_one, t)
        times.append(1000 * (time.perf_counter() - t0))
    out = {"p50": statistics.median(times), "p95": dl.pct(times, 0.95)}
    c = on_handler(dl.chat, chat, 48)
    out.update(chat_first=1000 * c["chat_first_s"], chat_tok_s=c["chat_tok_s"])
    out["rows_s"] = on_handler(dl.batch_file, cls, Path(tempfile.mkdtemp()))["batch_rows_s"]
    streaming = threading.Event()

    def long_chat():
        for _ in chat.chat_stream([], dl.PROMPTS[2], max_new_tokens=200):
            streaming.set()

    job = pool.submit(long_chat)
    streaming.wait(60)
    during = []
    for t in texts[:15]:
        t0 = time.perf_counter()
        on_handler(cls.predict_one, t)
        during.append(1000 * (time.perf_counter() - t0))
    job.result()
    out["during_chat"] = statistics.median(during)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("CLS_RUN", "CHAT_RUN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(*args.child)))
        return

    from bench import demo_latency as dl

    tmp = Path(tempfile.mkdtemp(prefix="tuner-threads-bench-"))
    os.environ.update(TUNER_RUNS_DIR=str(tmp / "runs"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    (tmp / "runs").mkdir()
    cls_run = dl.make_classifier_run()
    chat_run = dl.make_lora_run("chat", str(dl.make_chat_base(tmp / "chat-100m")), {
        "task": "chat", "template": "auto", "system_prompt": "", "max_new_tokens": 48, "max_length": 512}, "bench-chat")
    results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    names = list(SETTINGS)
    for i in range(args.rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            env = dict(os.environ, TUNER_CPU_TEAMS=SETTINGS[name])
            proc = subprocess.run([sys.executable, "-m", "bench.cpu_threads", "--child", cls_run.id, chat_run.id], env=env,
                                  capture_output=True, text=True, cwd=ROOT)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{name}: the measuring process failed (exit {proc.returncode})")
            results[name].append(json.loads(line[7:]))
            print(f"round {i + 1} {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in results[name][-1].items()), flush=True)

    import torch

    print(f"\nDemo paths from 4 handler threads, {args.rounds} rounds per setting, interleaved, a fresh process each "
          f"(medians); {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}.")
    before, after = names
    print(f"| measure | {before} | {after} | speed-up |")
    print("|---|---:|---:|---:|")
    for key, label, lower in ROWS:
        a = statistics.median(r[key] for r in results[before])
        b = statistics.median(r[key] for r in results[after])
        print(f"| {label} | {a:,.1f} | {b:,.1f} | {(a / b if lower else b / a):.2f}x |")


if __name__ == "__main__":
    main()
