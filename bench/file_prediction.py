"""Batch prediction of a file: how the rows are batched and which attention kernel runs, interleaved.

    python bench/file_prediction.py                       # a fresh LoRA adapter on the bundled MiniLM
    python bench/file_prediction.py --run runs/<id>       # a trained classification run

One `tuner.inference.Predictor` predicts ../shared/datasets/sst2/dev.tsv (872 sentences) under each setting in
turn, A B C A B C ... for `--rounds` rounds (after one warm-up pass each); the timed pass is the Try-it tab's
file path (`Predictor.predict_file`: read the table, predict, write the CSV). Settings:
  * before: SDPA attention, batches of up to 256 rows padded to a multiple of 8 (the batching and kernel before
    this bench; the padding itself is already the faster one in every setting);
  * each change alone, and
  * now: eager attention (models.fast_attention on the CPU), batches of up to 64 rows padded to the longest.
Prints one table: rows per batch, pad multiple, attention, real/padded tokens, median rows/s, ratio to
"before", and the share of labels equal to "before".
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEV = ROOT.parent / "shared" / "datasets" / "sst2" / "dev.tsv"

# name: (attention, rows per batch, pad multiple)
SETTINGS = {"before": ("sdpa", 256, 8), "eager attention only": ("eager", 256, 8),
            "64-row batches only": ("sdpa", 64, 1), "now": ("eager", 64, 1)}


def padding_share(lengths: list[int], batch_size: int, multiple: int, budget: int = 8192) -> float:
    """Real / padded tokens of the batches ClassificationTask.predict cuts from these token lengths."""
    from tuner.tasks.classification import _round_up

    order, start, padded = sorted(lengths), 0, 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size and (end - start + 1) * _round_up(order[end], multiple) <= budget:
            end += 1
        padded += (end - start) * (_round_up(order[end - 1], multiple) if end - start > 1 else order[end - 1])
        start = end
    return sum(lengths) / padded


def main() -> None:
    import pandas as pd

    from tuner import runs
    from tuner.inference import Predictor

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", help="a trained classification run folder (default: a fresh adapter)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.run:
        run = runs.Run(Path(args.run).resolve())
    else:
        import os

        os.environ.setdefault("TUNER_RUNS_DIR", tempfile.mkdtemp(prefix="tuner-fp-runs-"))
        from demo_latency import make_lora_run

        run = make_lora_run("classification", "default", {
            "task": "classification", "labels": ["0", "1"], "text_columns": ["content"], "label_column": "label",
            "max_length": 128}, "bench-classifier")
    pred = Predictor(run)
    task_predict = pred.task.predict
    texts = [t for t in pd.read_csv(DEV, sep="\t").content.astype(str)]
    lengths = [len(ids) for ids in pred.tokenizer(texts, truncation=True, max_length=pred.max_length)["input_ids"]]
    out = Path(tempfile.mkdtemp(prefix="tuner-fp-"))

    def use(name: str) -> None:
        attention, rows, multiple = SETTINGS[name]
        pred.model.set_attn_implementation(attention)
        pred.task.predict = functools.partial(task_predict, batch_size=rows, pad_multiple=multiple)

    labels, rates = {}, {name: [] for name in SETTINGS}
    for name in SETTINGS:  # warm-up, and the labels each setting gives
        use(name)
        pred.predict_file(DEV, out / "p.csv")
        labels[name] = pd.read_csv(out / "p.csv").predicted_label
    for _ in range(args.rounds):
        for name in SETTINGS:
            use(name)
            t = time.perf_counter()
            rows = pred.predict_file(DEV, out / "p.csv")["rows"]
            rates[name].append(rows / (time.perf_counter() - t))
    before = statistics.median(rates["before"])
    print(f"\nFile prediction, SST-2 dev.tsv ({len(texts)} rows, {sum(lengths):,} tokens), {args.rounds} interleaved rounds, medians")
    print("| setting | rows per batch | pad multiple | attention | real / padded tokens | rows/s | vs before | labels = before |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name, (attention, rows, multiple) in SETTINGS.items():
        rate = statistics.median(rates[name])
        agree = (labels[name] == labels["before"]).mean()
        print(f"| {name} | {rows} | {multiple} | {attention} | {padding_share(lengths, rows, multiple):.0%} | "
              f"{rate:,.0f} | {rate / before:.2f}x | {agree:.2%} |")


if __name__ == "__main__":
    main()
