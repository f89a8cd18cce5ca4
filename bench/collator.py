"""The classification collator: transformers' DataCollatorWithPadding against tuner's numpy PadCollator (issue #6).

    python -m bench.collator                       # SST-2 rows, the recipe's batch size, 12 training rounds
    python -m bench.collator --rounds 20 --steps 40

Two parts, both on SST-2 train rows:
  * collate: milliseconds to build one batch from tokenized rows, each collator (the median of 9 repeats of
    200 batches), after checking on every batch of the rows that both give the same tensors;
  * training: bench/train_throughput.py's `Tuner` variant (the default recipe's model, LoRA and Trainer) with one
    collator, then the other, A B, B A, ... for `--rounds` rounds of `--steps` steps.
Prints one table: ms per batch, training samples/s (median), and the ratio to DataCollatorWithPadding.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collate_ms(collator, batches: list[list[dict]]) -> float:
    times = []
    for _ in range(9):
        t = time.perf_counter()
        for rows in batches:
            collator(rows)
        times.append((time.perf_counter() - t) / len(batches) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rows", type=int, default=8192)
    args = ap.parse_args()

    import torch
    from transformers import DataCollatorWithPadding

    from bench.train_throughput import Tuner, load_rows
    from tuner import models
    from tuner.config import RunConfig
    from tuner.tasks import get_task

    torch.manual_seed(0)
    cfg = RunConfig.load(str(ROOT / "recipes" / "classification.yaml"))
    size = cfg.train.batch_size
    texts, labels = load_rows(args.rows)
    source = models.resolve("default")
    tok = models.load_tokenizer(source)
    task = get_task("classification")
    collators = {"DataCollatorWithPadding": DataCollatorWithPadding(tok), "PadCollator (numpy)": task.collator(tok)}

    data = task.encode({"text": texts, "label": labels}, tok, cfg.model.max_length)
    batches = [[data[i] for i in range(j, min(j + size, len(data)))] for j in range(0, len(data), size)]
    for rows in batches:
        a, b = (c(rows) for c in collators.values())
        if set(a) != set(b) or any(not torch.equal(a[k], b[k]) or a[k].dtype != b[k].dtype for k in a):
            raise SystemExit("the two collators built different batches")
    per_batch = {name: collate_ms(c, batches[:200]) for name, c in collators.items()}

    variant = Tuner(source, cfg.adapter, texts, labels, size)
    variant.setup()
    variant.run(2)
    rates: dict[str, list[float]] = {name: [] for name in collators}
    names = list(collators)
    for i in range(args.rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            variant.counter.collator = collators[name]
            result = variant.run(args.steps)
            rates[name].append(result["samples"] / result["seconds"])

    print(f"\nSST-2 rows, batches of {size}; training: {args.steps} steps x {args.rounds} rounds per collator, "
          f"interleaved (medians); torch threads {torch.get_num_threads()}")
    print("| collator | ms per batch | training samples/s | vs DataCollatorWithPadding |")
    print("|---|---:|---:|---:|")
    base = statistics.median(rates[names[0]])
    for name in names:
        rate = statistics.median(rates[name])
        print(f"| {name} | {per_batch[name]:.3f} | {rate:,.0f} | {rate / base:.3f}x |")


if __name__ == "__main__":
    main()
