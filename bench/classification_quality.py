"""The default classification recipe on real data nobody here wrote, against a classical baseline (issue #22).

    python -m bench.classification_quality                    # SST-2, SMS spam, waimai_10k
    python -m bench.classification_quality --only waimai_10k
    env ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 \
        python -m bench.classification_quality                # an AVX2-only CPU emulated on an AMX machine
                                                              # (precision auto then picks fp32, as there)

Each dataset goes through the same path as a new user: `python -m tuner train classification --set
data.train_file=...` (the default recipe, no other setting; its first lines are the time estimate), then
`python -m tuner eval <run> <test file> --json` on rows the run never saw: SST-2's test.tsv, and a stratified 20%
of SMS spam and of waimai_10k held out by this script (written under bench/out/data/, never into the project).
Prints the CPU, then one table: finetuned vs the classical baseline (TF-IDF + linear SVM, refitted on the run's
training rows) vs the majority class on the test rows, planned and trained steps, passes over the training rows,
the estimated and the real training time, and the verdict.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import cpu_header

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "bench" / "out"


def held_out_split(src: Path, name: str, label: str, delimiter: str, share: float = 0.2, seed: int = 0) -> tuple[Path, Path]:
    """A stratified train/test split of a labelled table, written as CSV under bench/out/data/."""
    with open(src, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=delimiter))
    rng = random.Random(seed)
    by_label: dict[str, list] = {}
    for r in rows:
        by_label.setdefault(r[label], []).append(r)
    train, test = [], []
    for items in by_label.values():
        rng.shuffle(items)
        cut = round(len(items) * share)
        test += items[:cut]
        train += items[cut:]
    rng.shuffle(train)
    folder = OUT / "data"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for part, data in (("train", train), ("test", test)):
        path = folder / f"{name}_{part}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(data)
        paths.append(path)
    return paths[0], paths[1]


def datasets() -> dict[str, tuple[Path, Path]]:
    """name -> (training file, test file)."""
    return {
        "sst2": (SHARED / "sst2" / "train.tsv", SHARED / "sst2" / "test.tsv"),
        "sms_spam": held_out_split(SHARED / "sms_spam" / "SMSSpamCollection", "sms_spam", "Label", "\t"),
        "waimai_10k": held_out_split(SHARED / "waimai_10k" / "waimai_10k.csv", "waimai_10k", "label", ","),
    }


def run_one(name: str, train: Path, test: Path, extra: list[str]) -> dict:
    env = dict(os.environ, TUNER_RUNS_DIR=str(OUT / "runs"))
    argv = [sys.executable, "-m", "tuner", "train", "classification", "--name", f"bench-{name}",
            "--set", f"data.train_file={train}"]
    for item in extra:
        argv += ["--set", item]
    t0 = time.time()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    run_line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("run ")), "")
    if not run_line:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{name}: training failed (exit {proc.returncode})")
    run_dir = Path(run_line.split("-> ", 1)[1])
    report = json.loads((run_dir / "metrics.json").read_text())
    status = json.loads((run_dir / "status.json").read_text())
    events = [json.loads(ln) for ln in (run_dir / "events.jsonl").read_text().splitlines() if ln.strip()]
    start = next(e for e in events if e.get("type") == "start")
    ev = subprocess.run([sys.executable, "-m", "tuner", "eval", str(run_dir), str(test), "--json"], cwd=ROOT, env=env,
                        capture_output=True, text=True)
    if ev.returncode != 0:
        print(ev.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{name}: eval failed (exit {ev.returncode})")
    scored = json.loads(ev.stdout)
    rows_seen = report["steps"] * start["batch_size"] * start.get("grad_accum", 1) * start.get("world_size", 1)
    est = status.get("estimate") or {}
    evals_done = sum(1 for e in events if e.get("type") == "eval")
    est_trained = (est["seconds_per_step"] * report["steps"] + evals_done * est["eval_seconds"]) if est.get("seconds_per_step") else None
    return {"dataset": name, "train_rows": start["train_rows"], "test_rows": scored["n_examples"],
            "planned": start.get("planned_steps"), "steps": report["steps"], "passes": rows_seen / start["train_rows"],
            "batch": start["batch_size"], "est_s": est.get("seconds"), "est_trained_s": est_trained,
            "train_s": report["train_seconds"], "wall_s": wall, "test": scored, "val": report,
            "early_stop": any(e.get("type") == "early_stop" for e in events), "run": run_dir.name}


def fmt(x, spec=".4f") -> str:
    return format(x, spec) if isinstance(x, (int, float)) else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["sst2", "sms_spam", "waimai_10k"], action="append")
    ap.add_argument("--set", action="append", default=[], help="extra override for every dataset")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"shared datasets not found at {SHARED}")
    header = cpu_header()
    print(header, flush=True)
    sets = datasets()
    results = []
    for name in args.only or list(sets):
        r = run_one(name, *sets[name], args.set)
        results.append(r)
        print(f"{name}: done ({r['wall_s']:.0f} s)", flush=True)
    print(f"\n{header}\n`python -m bench.classification_quality {' '.join('--set ' + s for s in args.set)}`".rstrip("` ") + "`")
    print("| data | train rows | test rows | finetuned acc / macro-F1 | classical acc / macro-F1 (fit s) | majority acc / macro-F1 "
          "| planned / trained steps (batch) | passes | estimated s: plan / steps trained (error) | real train s | verdict on test |")
    print("|---|---:|---:|---|---|---|---|---:|---|---:|---|")
    for r in results:
        t = r["test"]
        c, b = t.get("classical") or {}, t.get("baseline") or {}
        err = (f" ({100 * (r['est_trained_s'] - r['train_s']) / r['train_s']:+.0f}%)"
               if r["est_trained_s"] and r["train_s"] else "")
        print(f"| {r['dataset']} | {r['train_rows']:,} | {r['test_rows']:,} | {fmt(t['accuracy'])} / {fmt(t['macro_f1'])} "
              f"| {fmt(c.get('accuracy'))} / {fmt(c.get('macro_f1'))} ({fmt(c.get('fit_seconds'), '.1f')}) "
              f"| {fmt(b.get('accuracy'))} / {fmt(b.get('macro_f1'))} | {r['planned']:,} / {r['steps']:,} ({r['batch']})"
              f"{' early stop' if r['early_stop'] else ''} | {r['passes']:.2f} | {fmt(r['est_s'], '.0f')} / "
              f"{fmt(r['est_trained_s'], '.0f')}{err} | {r['train_s']:.0f} | {(t.get('verdict') or {}).get('sentence', '–')} |")


if __name__ == "__main__":
    main()
