"""The multi-label recipe on real data nobody here wrote, against its floors (issue #24).

    python -m bench.multilabel_quality                  # 2,000 rows of Bitext customer support, labels category;intent
    python -m bench.multilabel_quality --rows 500 --set train.epochs=1

Builds a multi-label file from /work/shared/datasets/bitext_support (the text: `instruction`; a row's labels: its
`category` and its `intent` joined by ';', 11 + 27 = 38 labels), a seeded random sample of `--rows` rows, written
under bench/out/data/ (never into the project), and trains it the way a user would: `python -m tuner train
multilabel --set data.train_file=...` (the default recipe; its held-out 10% is the validation split). Prints the
CPU, then the CLI's summary of the run's report: micro / macro / samples F1 and subset accuracy beside the
classical floor (TF-IDF + one-vs-rest logistic regression) and the most common label set, the threshold, the
per-label rows and the verdict, plus the steps and the training time.
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

from bench.classification_quality import OUT, ROOT, SHARED
from bench.machine import cpu_header

SOURCE = SHARED / "bitext_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"


def build_file(rows: int, seed: int = 0) -> Path:
    """`rows` seeded random rows of Bitext as text,labels (labels 'CATEGORY;intent') under bench/out/data/."""
    with open(SOURCE, encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    picked = random.Random(seed).sample(records, min(rows, len(records)))
    folder = OUT / "data"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bitext_multilabel_{len(picked)}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "labels"])
        writer.writerows([r["instruction"], f"{r['category']};{r['intent']}"] for r in picked)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2000, help="rows sampled from Bitext (seed 0)")
    ap.add_argument("--set", action="append", default=[], help="extra recipe override")
    args = ap.parse_args()
    if not SOURCE.is_file():
        raise SystemExit(f"the Bitext dataset is not at {SOURCE}")
    print(cpu_header(), flush=True)
    path = build_file(args.rows)
    env = dict(os.environ, TUNER_RUNS_DIR=str(OUT / "runs"))
    argv = [sys.executable, "-m", "tuner", "train", "multilabel", "--name", "bench-multilabel-bitext",
            "--set", f"data.train_file={path}"]
    for item in args.set:
        argv += ["--set", item]
    t0 = time.time()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    run_line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("run ")), "")
    if proc.returncode != 0 or not run_line:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"training failed (exit {proc.returncode})")
    run_dir = Path(run_line.split("-> ", 1)[1])
    report = json.loads((run_dir / "metrics.json").read_text())
    print(f"{path.name}: {report.get('n_examples', 0):,} validation rows; {report.get('steps')} steps, "
          f"train {report.get('train_seconds', 0):.0f} s, wall {time.time() - t0:.0f} s; run {run_dir.name}")
    print(proc.stdout.strip())


if __name__ == "__main__":
    main()
