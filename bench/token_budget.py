"""Token-budget training batches against fixed 32-row batches (issue #6's list of things worth measuring).

    python -m bench.token_budget                                  # throughput, 3,200 SST-2 rows per round, 3 rounds
    python -m bench.token_budget --budgets 1024,2048 --accuracy 20000   # also train one pass over 20,000 rows
                                                                        # with each batching, score dev and test

Every batching groups rows by length the way the Trainer's group_by_length sampler does (shuffle, mega-batches
of 50 x 32 rows sorted by length, batches in random order). "32 rows" cuts each mega-batch into 32-row batches
(the default recipe); a budget of B tokens cuts it into batches of at most B padded tokens (and 512 rows), so
short texts travel in big batches and long ones in small batches (`tuner.tasks.common.length_batches`, which also
cuts the Try-it file predictions). The model and step are the default recipe's CPU path (bench/train_throughput.py
`tuner_model`: MiniLM frozen in the precision auto picks (bf16 where native), fp32 LoRA, [CLS]-only last layer) in a plain loop (bf16 autocast, fused
AdamW, gradient clipping at 1.0), so only the batching differs. Rounds are interleaved (A B C A B C ...);
the table shows medians of samples/s and real tokens/s, the padding efficiency and the optimizer steps per
1,000 rows. With --accuracy N each batching trains a fresh adapter (same seed) for one pass over N rows, at the
recipe's learning rate with its warm-up share and linear decay over that batching's own number of steps, and
scores SST-2 dev.tsv and test.tsv.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from bench.machine import cpu_header
from bench.train_throughput import auto_precision, load_rows, score, scoring_splits, tuner_model

ROOT = Path(__file__).resolve().parents[1]

MEGA = 50  # mega-batch = MEGA x 32 rows, as transformers' get_length_grouped_indices


def grouped_batches(lengths: list[int], seed: int, budget: int, rows: int = 32) -> list[list[int]]:
    """Row indices of each batch: shuffled, grouped by length within mega-batches, batches shuffled. budget 0 =
    `rows` rows per batch; else at most `budget` padded tokens (and 512 rows) per batch."""
    from tuner.tasks.common import length_batches

    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), MEGA * rows):
        mega = order[start:start + MEGA * rows]
        if budget:
            batches += [[mega[k] for k in idx] for idx, _ in length_batches([lengths[i] for i in mega], 512, budget)]
        else:
            mega.sort(key=lambda i: lengths[i])
            batches += [mega[k:k + rows] for k in range(0, len(mega), rows)]
    rng.shuffle(batches)
    return batches


class Loop:
    """One adapter trained by a plain loop over pre-collated batches."""

    def __init__(self, source, cfg, seed: int, total_steps: int):
        import torch
        from transformers import get_linear_schedule_with_warmup

        torch.manual_seed(seed)
        self.model = tuner_model(source, cfg.adapter)
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": cfg.train.weight_decay},
                  {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]  # biases, as the Trainer
        self.params = params
        self.opt = torch.optim.AdamW(groups, lr=cfg.train.learning_rate, fused=True)
        self.sched = get_linear_schedule_with_warmup(self.opt, round(cfg.train.warmup_fraction * total_steps),
                                                     total_steps)

    def steps(self, batches) -> None:
        import torch

        for batch in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=auto_precision() == "bf16"):
                loss = self.model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, 1.0)
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad(set_to_none=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", default="1024,2048", help="token budgets per batch to compare with 32-row batches")
    ap.add_argument("--rows", type=int, default=3200, help="SST-2 training rows per timed round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--accuracy", type=int, default=0, help="also train one pass over N rows with each batching")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import torch

    from tuner import models
    from tuner.config import RunConfig
    from tuner.tasks import get_task

    cfg = RunConfig.load(str(ROOT / "recipes" / "classification.yaml"))
    source = models.resolve("default")
    tok = models.load_tokenizer(source)
    task = get_task("classification")
    collate = task.collator(tok)
    settings = {f"{cfg.train.batch_size} rows (the recipe)": 0}
    settings.update({f"{b:,} tokens": b for b in map(int, args.budgets.split(","))})

    def batched(n: int, seed: int) -> dict:
        texts, labels = load_rows(n, seed=seed)
        ds = task.encode({"text": texts, "label": labels}, tok, cfg.model.max_length)
        rows = [ds[i] for i in range(len(ds))]
        lengths = [len(r["input_ids"]) for r in rows]
        return {name: [collate([rows[i] for i in idx]) for idx in grouped_batches(lengths, seed, budget,
                                                                                   cfg.train.batch_size)]
                for name, budget in settings.items()}

    timing = batched(args.rows, args.seed)
    loop = Loop(source, cfg, args.seed, total_steps=10**6)
    for batches in timing.values():
        loop.steps(batches[:3])  # warm-up: oneDNN builds its kernels per shape
    seconds = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, batches in timing.items():
            t = time.perf_counter()
            loop.steps(batches)
            seconds[name].append(time.perf_counter() - t)

    print(f"\n{cpu_header()}")
    print(f"SST-2: {args.rows:,} training rows per round, {args.rounds} interleaved rounds (medians); "
          f"LoRA r {cfg.adapter.r} on {', '.join(cfg.adapter.target_modules)}; torch threads {torch.get_num_threads()}")
    print("| batches | rows per batch (mean) | optimizer steps per 1,000 rows | padding efficiency | samples/s | real tokens/s | vs 32 rows |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    first = None
    for name, batches in timing.items():
        sec = statistics.median(seconds[name])
        real = sum(int(b["attention_mask"].sum()) for b in batches)
        padded = sum(b["input_ids"].numel() for b in batches)
        rate = args.rows / sec
        first = first or rate
        print(f"| {name} | {args.rows / len(batches):.1f} | {1000 * len(batches) / args.rows:.1f} | "
              f"{real / padded:.0%} | {rate:,.0f} | {real / sec:,.0f} | {rate / first:.2f}x |")

    if args.accuracy:
        splits = scoring_splits()
        print(f"\nOne pass over {args.accuracy:,} SST-2 training rows (seed {args.seed}), lr "
              f"{cfg.train.learning_rate:g}, warm-up {cfg.train.warmup_fraction:.0%}, linear decay:")
        print("| batches | optimizer steps | train s | " + " | ".join(f"{s} accuracy" for s in splits) + " |")
        print("|---|---:|---:|" + "---:|" * len(splits))
        for name, batches in batched(args.accuracy, args.seed).items():
            loop = Loop(source, cfg, args.seed, total_steps=len(batches))
            t = time.perf_counter()
            loop.steps(batches)
            sec = time.perf_counter() - t
            accs = score(loop.model, tok, splits)
            print(f"| {name} | {len(batches)} | {sec:.0f} | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)


if __name__ == "__main__":
    main()
