"""Many users at once (issue #23, "One user blocks everyone"): /classify latency with N gradio_client clients calling
for D seconds each, idle and optionally while a training run goes or while file predictions run.

    python -m bench.concurrency                                  # 20 clients x 20 s, idle
    python -m bench.concurrency --duration 60 --during-training  # and again while a run trains
    python -m bench.concurrency --file-rows 2000                 # and a sentence while two 2,000-row files predict

Trains a short run on the bundled default model (all-MiniLM-L6-v2, 320 rows of assets/support_tickets.csv through
`python -m tuner train`, 10 steps: 1-3 minutes on 2 cores; or --run ID --runs-dir DIR reuses a finished one), starts
`python app.py` on a free port (bench/app_client.py), warms the model, then measures. Prints the machine's CPU, one
line per phase (requests, errors, p50, p95) and whether p50 met the target (<= 0.5 s at 20 clients).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.app_client import start_app, stop_app
from bench.machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]

TARGET_P50_S = 0.5
# The clients share the app's CPU, so they are kept cheap: ssl_verify=False skips loading the CA bundle into a new
# SSL context on every request (half of gradio_client's ~0.2 s of CPU per call here); the app is plain http anyway.
SENTENCES = ["I was charged twice for my subscription", "my parcel never arrived", "the app crashes on start",
             "please update the billing address", "tracking says delivered but nothing came"]


def train_cmd(name: str, *sets: str) -> list[str]:
    cmd = [sys.executable, "-m", "tuner", "train", "classification", "--no-estimate", "--name", name,
           "--set", f"data.train_file={ROOT / 'assets' / 'support_tickets.csv'}"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def newest_run(runs_dir: Path, before: set) -> str:
    from tuner.runs import RUN_ID

    made = sorted(p.name for p in runs_dir.iterdir() if RUN_ID.match(p.name) and p.name not in before)
    if not made:
        raise SystemExit(f"no run was created in {runs_dir}")
    return made[-1]


def train_finished(runs_dir: Path, env: dict) -> str:
    """A finished classification run on the default model: 10 steps of 32 rows, one evaluation."""
    before = set(os.listdir(runs_dir))
    t0 = time.perf_counter()
    done = subprocess.run(train_cmd("bench concurrency", "train.max_examples=320", "train.epochs=1", "train.evals=1",
                                    "train.early_stopping=0"), cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    run_id = newest_run(runs_dir, before)
    print(f"trained run {run_id} in {time.perf_counter() - t0:.0f} s", flush=True)
    return run_id


def load(url: str, run_id: str, clients: int, seconds: float) -> dict:
    """`clients` gradio_client clients, started together, each calling /classify back to back for `seconds`."""
    from gradio_client import Client

    latencies, errors, lock = [], [], threading.Lock()
    start: list[float] = []
    ready = threading.Barrier(clients + 1, action=lambda: start.append(time.perf_counter()))  # before any goes

    def worker(i):
        try:
            client = Client(url, verbose=False, ssl_verify=False, httpx_kwargs={"timeout": 600})
        except Exception as exc:
            with lock:
                errors.append(f"connect: {exc}")
            ready.abort()
            return
        try:
            ready.wait(timeout=300)
        except threading.BrokenBarrierError:
            return
        j = 0
        while time.perf_counter() < start[0] + seconds:
            t0 = time.perf_counter()
            try:
                out = client.predict(run_id, SENTENCES[(i + j) % len(SENTENCES)], api_name="/classify")
                if not out.get("confidences"):  # an error comes back as '⛔ sentence' in the label's place
                    raise RuntimeError(out.get("label"))
                with lock:
                    latencies.append(time.perf_counter() - t0)
            except Exception as exc:
                with lock:
                    errors.append(str(exc)[:200])
            j += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=300)
    except threading.BrokenBarrierError:
        raise SystemExit(f"clients could not connect: {errors[:3]}") from None
    for t in threads:
        t.join(seconds + 600)
    return {"latencies": latencies, "errors": errors, "wall": time.perf_counter() - start[0]}


def sentence_while_files(url: str, run_id: str, rows: int, files: int = 2) -> dict:
    """`files` clients predict a `rows`-row file each; meanwhile another client classifies one sentence at a time."""
    from gradio_client import Client, handle_file

    path = Path(tempfile.mkdtemp(prefix="tuner-bench-")) / "rows.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["text"], *[[f"{SENTENCES[i % len(SENTENCES)]} (ticket {i})"] for i in range(rows)]])
    ends: list[float] = []
    errors: list[str] = []

    def predict_file():
        try:
            Client(url, verbose=False, ssl_verify=False, httpx_kwargs={"timeout": 3600}).predict(
                run_id, handle_file(str(path)), api_name="/predict_file")
        except Exception as exc:
            errors.append(f"file: {str(exc)[:200]}")
        ends.append(time.perf_counter())

    single = Client(url, verbose=False, ssl_verify=False)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=predict_file, daemon=True) for _ in range(files)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the files are read and their forwards are running
    latencies = []
    while len(ends) < files:
        s = time.perf_counter()
        try:
            single.predict(run_id, SENTENCES[len(latencies) % len(SENTENCES)], api_name="/classify")
            latencies.append(time.perf_counter() - s)
        except Exception as exc:
            errors.append(str(exc)[:200])
        time.sleep(0.2)
    for t in threads:
        t.join()
    return {"latencies": latencies, "errors": errors, "files_s": max(ends) - t0}


def row(name: str, res: dict) -> str:
    lat = sorted(res["latencies"])
    if len(lat) < 2:
        return f"| {name} | {len(lat)} | {len(res['errors'])} | – | – |"
    p95 = statistics.quantiles(lat, n=20)[18]
    return f"| {name} | {len(lat)} | {len(res['errors'])} | {statistics.median(lat):.3f} | {p95:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent gradio_client clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each phase lasts")
    parser.add_argument("--during-training", action="store_true", help="measure again while a training run goes")
    parser.add_argument("--file-rows", type=int, default=0,
                        help="also time single sentences while two files of this many rows are predicted (0 = off)")
    parser.add_argument("--run", help="a finished classification run to use (with --runs-dir) instead of training one")
    parser.add_argument("--runs-dir", help="the runs folder that holds --run")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tuner-concurrency-"))
    runs_dir = Path(args.runs_dir) if args.runs_dir else work / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TUNER_RUNS_DIR=str(runs_dir), HF_HUB_OFFLINE="1", HF_EVALUATE_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    env.pop("TUNER_AUTH", None)
    run_id = args.run or train_finished(runs_dir, env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the app and the training run
    print(f"\n/classify under load · {cpu_name()} · {os.cpu_count()} CPUs · bundled default model (all-MiniLM-L6-v2) "
          f"· {args.clients} gradio_client clients x {args.duration:.0f} s · load average before "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    print("| phase | requests | errors | p50 s | p95 s |\n|---|---|---|---|---|", flush=True)
    results: dict[str, dict] = {}
    trainer, background = None, None
    url, proc = start_app(work / "app.log", {"TUNER_RUNS_DIR": str(runs_dir)})
    try:
        from gradio_client import Client

        Client(url, verbose=False).predict(run_id, "warm up", api_name="/classify")  # load the model once
        results["idle"] = load(url, run_id, args.clients, args.duration)
        print(row("idle", results["idle"]), flush=True)
        if args.file_rows:
            name = f"1 client, 1 sentence at a time, while 2 x {args.file_rows:,}-row files predict"
            results[name] = sentence_while_files(url, run_id, args.file_rows)
            print(row(name, results[name]), flush=True)
        if args.during_training:
            before = set(os.listdir(runs_dir))
            trainer = subprocess.Popen(train_cmd("bench background", "train.epochs=1000", "train.evals=0",
                                                 "train.early_stopping=0"),
                                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
            deadline = time.time() + 600
            while True:  # until the child reports a training step
                made = [p for p in runs_dir.iterdir() if p.name not in before and (p / "status.json").is_file()]
                background = made[0].name if made else None
                events = made[0] / "events.jsonl" if made else None
                if events and events.is_file() and '"type": "progress"' in events.read_text(errors="replace"):
                    break
                if time.time() > deadline or trainer.poll() is not None:
                    raise SystemExit("the background training run did not start")
                time.sleep(1)
            results["during training"] = load(url, run_id, args.clients, args.duration)
            print(row("during training", results["during training"]), flush=True)
    finally:
        if trainer is not None:
            stop_training(trainer, runs_dir, background, env)
        stop_app(proc)

    for name, res in results.items():
        if "files_s" in res:
            print(f"({name}: the files took {res['files_s']:.1f} s; the slowest sentence "
                  f"{max(res['latencies'], default=0):.3f} s)")
        for e in res["errors"][:3]:
            print(f"error ({name}): {e}")
    idle = sorted(results["idle"]["latencies"])
    if idle:
        p50 = statistics.median(idle)
        print(f"target p50 <= {TARGET_P50_S} s at {args.clients} clients, idle: {'met' if p50 <= TARGET_P50_S else 'NOT met'} "
              f"({p50:.3f} s); load average at the end {os.getloadavg()[0]:.1f} (other work on the machine skews it)")


def stop_training(trainer: subprocess.Popen, runs_dir: Path, run_id: str | None, env: dict) -> None:
    """Stop the background run cleanly (`python -m tuner stop`); past 3 minutes, kill the CLI's and the launcher's
    process groups (both started here)."""
    import json

    if run_id and trainer.poll() is None:
        subprocess.run([sys.executable, "-m", "tuner", "stop", run_id], cwd=ROOT, env=env, capture_output=True)
    try:
        trainer.wait(timeout=180 if run_id else 1)
        return
    except subprocess.TimeoutExpired:
        pass
    groups = [trainer.pid]
    if run_id:
        try:
            groups.append(int(json.loads((runs_dir / run_id / "status.json").read_text())["launcher_pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass

if __name__ == "__main__":
    main()
