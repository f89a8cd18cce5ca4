"""How long listing runs takes at 3,000 run folders (issue #23): the core listing, the Runs tab's refresh and
`python -m tuner runs`.

    python -m bench.runs_list                   # 3,000 fake runs in a temporary TUNER_RUNS_DIR, 5 rounds
    python -m bench.runs_list --runs 1000 --rounds 3

To time the code before a change, run this file from an export of that commit, e.g.
`git archive <commit> | tar -x -C /tmp/before && cp bench/runs_list.py /tmp/before/bench/ && cd /tmp/before && python -m bench.runs_list`.

Each fake run folder looks like a finished one: status.json (with an estimate), config.yaml, metrics.json (a
per-label report and a confusion matrix), events.jsonl (500 lines), an adapter folder and one checkpoint. A few
are `running` with a dead pid, so the first listing also does the recovery work. Timed in this process:

* `list_runs()`                       the core listing every tab's run dropdown goes through
* Runs tab refresh                    what opening the Runs tab / pressing Refresh computes (table + both dropdowns)
* `python -m tuner runs`              a fresh process, spawn to exit (Python start and imports included)

The first round reads the files cold for this process (the OS cache is warm) and, after issue #23, measures every
run's size once for the storage quota; later rounds show the caching. Medians and minima are printed: on a shared
machine the minimum is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LABELS = ["billing", "technical", "account", "shipping", "other"]


def make_runs(root: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    t0 = time.time() - n * 60
    cfg = ROOT / "recipes" / "classification.yaml"
    config_text = cfg.read_text() if cfg.is_file() else "task: classification\n"
    events = "".join(json.dumps({"type": "train", "step": s, "loss": 1.0 / (s + 1), "lr": 2e-4, "epoch": s / 100,
                                 "time": t0 + s}) + "\n" for s in range(500))
    for i in range(n):
        created = t0 + i * 60
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(created)) + f"-{i:06x}"
        path = root / run_id
        (path / "data").mkdir(parents=True)
        (path / "adapter").mkdir()
        (path / "checkpoints" / "checkpoint-100").mkdir(parents=True)
        state = "running" if i % 500 == 7 else ("failed" if i % 10 == 3 else "completed")
        status = {"state": state, "name": f"run {i}", "owner": "", "created": created, "updated": created + 300,
                  "pid": 999_999_999 if state == "running" else None, "message": f"Finished 100 steps in {i % 300} s.",
                  "source_files": {"train_file": "tickets.csv"},
                  "estimate": {"seconds": 120.0, "steps": 100, "sentence": "About 2 minutes here."}}
        (path / "status.json").write_text(json.dumps(status, indent=1))
        (path / "config.yaml").write_text(config_text)
        (path / "events.jsonl").write_text(events)
        (path / "data" / "train.csv").write_text("text,label\n" + "hello world,billing\n" * 200)
        (path / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 4096)
        (path / "checkpoints" / "checkpoint-100" / "trainer_state.json").write_text("{}")
        if state == "completed":
            per_label = [{"label": lab, "precision": rng.random(), "recall": rng.random(), "f1": rng.random(),
                          "support": 40} for lab in LABELS]
            report = {"task": "classification", "accuracy": rng.random(), "macro_f1": rng.random(),
                      "per_label": per_label, "labels": LABELS,
                      "confusion": [[rng.randint(0, 40) for _ in LABELS] for _ in LABELS],
                      "classical": {"name": "TF-IDF + linear SVM", "accuracy": rng.random(), "macro_f1": rng.random()},
                      "verdict": {"level": "useful", "sentence": "Worth using."}}
            (path / "metrics.json").write_text(json.dumps(report, indent=1))


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def refresh_fn():
    """What the Runs tab computes on open / Refresh (tuner.ui.runs_tab.refresh when it exists)."""
    from tuner.ui import common, runs_tab

    if hasattr(runs_tab, "refresh"):  # after: the table and Run dropdown, then the compare dropdown and the note
        def new():
            runs_tab.refresh(None)
            runs_tab.overview(None)

        return new

    def old():  # before issue #23: the table, the Run dropdown, and the compare dropdown (table.change)
        runs_tab.runs_table(None)
        common.all_run_choices(None)
        common.all_run_choices(None)

    return old


def cli_runs(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "tuner", "runs"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tuner-bench-runs-") as tmp:
        root = Path(tmp) / "runs"
        root.mkdir()
        t = time.perf_counter()
        make_runs(root, args.runs)
        made = time.perf_counter() - t
        os.environ["TUNER_RUNS_DIR"] = str(root)
        env = dict(os.environ, TUNER_RUNS_DIR=str(root))
        from tuner import runs

        refresh = refresh_fn()
        rows = {"list_runs()": [], "Runs tab refresh": [], "python -m tuner runs": []}
        for _ in range(args.rounds):
            rows["list_runs()"].append(timed(runs.list_runs))
            rows["Runs tab refresh"].append(timed(refresh))
            rows["python -m tuner runs"].append(timed(lambda: cli_runs(env)))
        du = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"{args.runs} fake runs ({du / 2**20:.0f} MB) made in {made:.1f} s; {args.rounds} rounds\n")
        print("| what | median s | min s | rounds (s) |")
        print("|---|---:|---:|---|")
        for name, values in rows.items():
            print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | "
                  f"{', '.join(f'{v:.3f}' for v in values)} |")


if __name__ == "__main__":
    main()
