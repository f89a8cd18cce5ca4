"""glibc's malloc defaults against tuner.cpu.malloc's thresholds: CPU training steps and file prediction.

    python -m bench.cpu_malloc                 # 4 rounds
    python -m bench.cpu_malloc --rounds 6

malloc settings are process-wide and glibc cannot be put back to its own adaptive defaults once they are
set, so each measurement is a fresh process, the settings interleaved (A B A B ..., order alternating per
round), medians over the rounds. Measured in each process, after a warm-up:
  * the default recipe's training path (bench/train_throughput.py's `tuner` variant: MiniLM, SST-2 rows,
    batch 32), samples/s and minor page faults per step;
  * the competent baseline's Trainer path (bench/train_throughput.py runs every variant under Tuner's
    thresholds, so its tuner / competent ratio leaves out what Tuner gains from them: the baseline gains too);
  * Try it's file path (`Predictor.predict_file` on SST-2 dev.tsv, a fresh LoRA adapter), rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {  # name -> (what is measured, malloc setting)
    "tuner, glibc defaults": ("tuner", "glibc"),
    "tuner, tuner.cpu.malloc": ("tuner", "keep"),
    "competent, glibc defaults": ("competent", "glibc"),
    "competent, tuner.cpu.malloc": ("competent", "keep"),
    "file prediction, glibc defaults": ("predict", "glibc"),
    "file prediction, tuner.cpu.malloc": ("predict", "keep"),
}


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def worker(what: str, setting: str, steps: int) -> dict:
    from tuner.cpu import malloc as cpu_malloc

    if setting == "keep":
        assert cpu_malloc.keep_freed_memory(), "glibc's mallopt is not available here"
    if what == "predict":
        return predict_worker()
    from bench import train_throughput as tt
    from tuner import models
    from tuner.config import RunConfig

    cfg = RunConfig.load(str(ROOT / "recipes" / "classification.yaml"))  # the recipe's LoRA and batch size
    texts, labels = tt.load_rows(8192)
    kind = tt.Tuner if what == "tuner" else tt.Competent
    variant = kind(models.resolve("default"), cfg.adapter, texts, labels, cfg.train.batch_size)
    variant.setup()
    variant.run(40)  # warm-up: kernels for the common shapes, the heap grown
    before = faults()
    r = variant.run(steps)
    return {"rate": r["samples"] / r["seconds"], "faults": (faults() - before) / steps}


def predict_worker() -> dict:
    from bench.demo_latency import make_classifier_run
    from bench.file_prediction import DEV
    from tuner.inference import Predictor

    pred = Predictor(make_classifier_run())
    out = Path(tempfile.mkdtemp(prefix="tuner-malloc-"))
    pred.predict_file(DEV, out / "p.csv")  # warm-up
    before, t = faults(), time.perf_counter()
    rows = sum(pred.predict_file(DEV, out / "p.csv")["rows"] for _ in range(2))
    return {"rate": rows / (time.perf_counter() - t), "faults": (faults() - before) / 2}


def measure(name: str, steps: int) -> dict:
    what, setting = CASES[name]
    env = dict(os.environ, TUNER_CPU_MALLOC=setting)
    env.setdefault("TUNER_RUNS_DIR", tempfile.mkdtemp(prefix="tuner-malloc-runs-"))
    proc = subprocess.run([sys.executable, "-m", "bench.cpu_malloc", "--worker", what, setting, "--steps", str(steps)],
                          env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        sys.exit(f"{name}: the worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=150, help="timed training steps per process")
    ap.add_argument("--worker", nargs=2, metavar=("WHAT", "SETTING"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.steps)))
        return
    names = list(CASES)
    results: dict[str, list[dict]] = {n: [] for n in names}
    for rnd in range(args.rounds):
        for name in (names if rnd % 2 == 0 else names[::-1]):
            results[name].append(measure(name, args.steps))
            print(f"round {rnd + 1}: {name}: {results[name][-1]['rate']:.1f}", file=sys.stderr, flush=True)
    med = {n: statistics.median(r["rate"] for r in results[n]) for n in names}
    print(f"{args.rounds} rounds, one fresh process per measurement, medians; training: MiniLM, SST-2 rows, batch 32, "
          f"{args.steps} timed steps; file prediction: SST-2 dev.tsv (872 rows), 2 passes")
    print("| case | samples or rows /s | minor page faults per step or pass | vs glibc defaults |")
    print("|---|---:|---:|---:|")
    for name in names:
        base = next(n for n in names if n.split(",")[0] == name.split(",")[0])
        fault = statistics.median(r["faults"] for r in results[name])
        print(f"| {name} | {med[name]:.1f} | {fault:,.0f} | {med[name] / med[base]:.2f}x |")


if __name__ == "__main__":
    main()
