"""Padding and label mix of training batches: transformers' length grouping, Tuner's label-mixed grouping
(tuner/sampling.py) and random batches, on SST-2, SMS spam and waimai_10k with the bundled model's tokenizer.

    python -m bench.batch_mix     # batch 32, the first 20,000 rows of each file

Real tokens = the share of the padded batch that is text (higher = less work wasted on padding). Label mix = the
mean total-variation distance between a batch's label shares and the whole file's (0 = every batch has the file's
mix, 1 = every batch is one label the file rarely has). No training; seconds.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
FILES = {"sst2": (SHARED / "sst2" / "train.tsv", "sentence", "label", "\t"),
         "sms_spam": (SHARED / "sms_spam" / "SMSSpamCollection", "SMS", "Label", "\t"),
         "waimai_10k": (SHARED / "waimai_10k" / "waimai_10k.csv", "review", "label", ",")}


def main() -> None:
    from tuner import models
    from tuner.sampling import batch_plan

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rows", type=int, default=20_000)
    args = ap.parse_args()
    tokenizer = models.load_tokenizer(models.resolve("default"))
    print(f"`python -m bench.batch_mix --batch {args.batch} --rows {args.rows}`\n")
    print("| data | batches | real tokens: length grouping / label-mixed / random | label mix (TV): length grouping / label-mixed / random |")
    print("|---|---:|---|---|")
    for name, (path, text, label, sep) in FILES.items():
        if not path.is_file():
            print(f"| {name} | missing: {path} | | |")
            continue
        with open(path, encoding="utf-8", newline="") as fh:
            rows = [r for r in csv.DictReader(fh, delimiter=sep) if r.get(text) and r.get(label)][:args.rows]
        ids = tokenizer([r[text] for r in rows], truncation=True, max_length=128)["input_ids"]
        lengths = [len(x) for x in ids]
        names = sorted({r[label] for r in rows})
        labels = [names.index(r[label]) for r in rows]
        overall = [labels.count(i) / len(labels) for i in range(len(names))]
        figures = []
        for plan in (batch_plan(lengths, None, args.batch, True), batch_plan(lengths, labels, args.batch, True),
                     batch_plan(lengths, None, args.batch, False)):
            real = sum(sum(lengths[i] for i in idx) for idx, _ in plan) / sum(len(idx) * w for idx, w in plan)
            tv = sum(sum(abs(sum(labels[i] == c for i in idx) / len(idx) - overall[c]) for c in range(len(names))) / 2
                     for idx, _ in plan) / len(plan)
            figures.append((real, tv))
        print(f"| {name} | {len(plan)} | {' / '.join(f'{r:.0%}' for r, _ in figures)} | "
              f"{' / '.join(f'{t:.3f}' for _, t in figures)} |")


if __name__ == "__main__":
    main()
