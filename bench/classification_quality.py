"""Quality bar for the default classification recipe on real data (issue #2).

    python bench/classification_quality.py                 # SST-2 (train.tsv -> dev.tsv) and SMS spam
    python bench/classification_quality.py --only sst2 --set train.max_examples=30000

Each dataset is trained through the same path as the page (`python -m tuner train recipes/classification.yaml`,
an `accelerate launch` child). The validation rows (checkpoint choice, the run's own report) are held out of the
training file; SST-2's dev.tsv and test.tsv are never seen in training and are scored afterwards by
`python -m tuner eval <run> <file>`. Prints one table: rows, steps, training seconds (the Trainer loop, with its
evaluations), wall seconds (the training command: launch, data, training, evaluation), and the scores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
DATASETS = {
    # name: (overrides, files scored after training (the first one carries the bar; none = the validation rows),
    #        headline metric, bar)
    "sst2": ([f"data.train_file={SHARED / 'sst2' / 'train.tsv'}"], [SHARED / "sst2" / "dev.tsv", SHARED / "sst2" / "test.tsv"],
             "accuracy", 0.90),
    "sms_spam": ([f"data.train_file={SHARED / 'sms_spam' / 'SMSSpamCollection'}"], [], "macro_f1", 0.95),
}


def score_file(run_dir: Path, path: Path, env: dict) -> dict:
    """`python -m tuner eval <run> <file> --json`: the same report as the Evaluate page."""
    proc = subprocess.run([sys.executable, "-m", "tuner", "eval", str(run_dir), str(path), "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"eval {path.name}: failed (exit {proc.returncode})")
    return json.loads(proc.stdout)


def run_one(name: str, extra: list[str], recipe: str) -> dict:
    overrides, scored, metric, bar = DATASETS[name]
    runs_dir = ROOT / "bench" / "out" / "runs"
    env = dict(os.environ, TUNER_RUNS_DIR=str(runs_dir))
    argv = [sys.executable, "-m", "tuner", "train", recipe, "--name", f"bench-{name}"]
    for item in overrides + extra:
        argv += ["--set", item]
    t0 = time.time()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    run_line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("run ")), "")
    if proc.returncode != 0 or not run_line:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{name}: training failed (exit {proc.returncode})")
    run_dir = Path(run_line.split("-> ", 1)[1])
    m = json.loads((run_dir / "metrics.json").read_text())
    start = next(json.loads(ln) for ln in (run_dir / "events.jsonl").read_text().splitlines() if '"start"' in ln)
    files = {p.name: score_file(run_dir, p, env) for p in scored if p.is_file()}
    headline = next(iter(files.values()), m)
    return {"dataset": name, "train_rows": start["train_rows"], "val_rows": m["n_examples"], "steps": m["steps"],
            "train_s": m["train_seconds"], "wall_s": round(wall, 1), "val": m, "files": files,
            "metric": metric, "bar": bar, "scored_on": next(iter(files), "validation rows"),
            "pass": headline[metric] >= bar, "run": run_dir.name}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=list(DATASETS), action="append")
    ap.add_argument("--recipe", default="recipes/classification.yaml")
    ap.add_argument("--set", action="append", default=[], help="extra override for every dataset")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"shared datasets not found at {SHARED}")
    rows = [run_one(n, args.set, args.recipe) for n in (args.only or list(DATASETS))]
    print(f"\nrecipe {args.recipe} {' '.join(args.set)}")
    print("| dataset | train rows | val rows | steps | train s | wall s | val accuracy | val macro-F1 | scored files | bar | pass |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        files = "; ".join(f"{n}: accuracy {f['accuracy']:.4f}, macro-F1 {f['macro_f1']:.4f}" for n, f in r["files"].items()) or "-"
        print(f"| {r['dataset']} | {r['train_rows']:,} | {r['val_rows']:,} | {r['steps']} | {r['train_s']:.0f} | {r['wall_s']:.0f} | "
              f"{r['val']['accuracy']:.4f} | {r['val']['macro_f1']:.4f} | {files} | {r['metric']} >= {r['bar']} on {r['scored_on']} | "
              f"{'yes' if r['pass'] else 'NO'} |")


if __name__ == "__main__":
    main()
