"""Training with the fused LoRA forward (tuner/cpu/lora_fused.py) against peft's own forward, interleaved.

    python -m bench.lora_fused                  # SST-2 rows, MiniLM, the default recipe's LoRA, 12 rounds of 40 steps
    python -m bench.lora_fused --rounds 20 --steps 60

Both variants are the recipe's CPU training path as bench/train_throughput.py's "tuner" variant builds it
(a transformers Trainer over the same length-grouped SST-2 rows, fp32 adapter; where bf16 is native, bf16 frozen
weights under bf16 autocast, else fp32, as `precision: auto` picks); one of them gets peft's LoRA forward back (`result + lora_B(lora_A(x)) * scaling`), the other keeps
the fused `addmm(result, x A^T, B^T, alpha=scaling)`. Each round runs each for `--steps` optimizer steps, in
alternating order (A B, B A, ..., so neither always runs first); the table
shows medians of samples/s and real tokens/s, the ratio of the medians and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unfuse(model) -> int:
    """Give every fused LoRA layer of `model` peft's forward back (the class's own method)."""
    count = 0
    for module in model.modules():
        if getattr(module, "fused_lora", False):
            del module.forward
            module.fused_lora = False
            count += 1
    return count


def main() -> None:
    from bench import train_throughput as tt
    from tuner import models
    from tuner.config import load_recipe

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps per variant and round")
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()

    cfg = load_recipe(str(ROOT / "recipes" / "classification.yaml"))
    texts, labels = tt.load_rows(args.rows)
    source = models.resolve(cfg.model.name)
    variants = {}
    for name in ("peft forward", "fused forward"):
        v = tt.Tuner(source, cfg.adapter, texts, labels, cfg.train.batch_size)
        v.setup()
        variants[name] = v
    layers = unfuse(variants["peft forward"].model)
    for v in variants.values():
        v.run(10)  # warm-up: oneDNN builds its kernels per shape
    rates = {name: [] for name in variants}
    order = list(variants.items())
    for i in range(args.rounds):
        for name, v in order if i % 2 == 0 else order[::-1]:
            r = v.run(args.steps)
            rates[name].append((r["samples"] / r["seconds"], r["real_tokens"] / r["seconds"]))
    base = statistics.median(s for s, _ in rates["peft forward"])
    paired = statistics.median(f / p for (f, _), (p, _) in zip(rates["fused forward"], rates["peft forward"]))
    from bench.machine import cpu_header, precision_line

    print(f"\n{cpu_header()}\n{precision_line()}")
    print(f"LoRA forward, SST-2 rows, MiniLM, LoRA r={cfg.adapter.r} on {cfg.adapter.target_modules} ({layers} layers), "
          f"batch {cfg.train.batch_size}, {args.steps} steps x {args.rounds} interleaved rounds, medians")
    print("| forward | samples/s | real tokens/s | vs peft | per-round ratio (median) | samples/s per round |")
    print("|---|---:|---:|---:|---:|---|")
    for name, got in rates.items():
        samples = statistics.median(s for s, _ in got)
        tokens = statistics.median(t for _, t in got)
        rounds = ", ".join(f"{s:.0f}" for s, _ in got)
        ratio = f"{paired:.3f}x" if name == "fused forward" else "-"
        print(f"| {name} | {samples:,.0f} | {tokens:,.0f} | {samples / base:.3f}x | {ratio} | {rounds} |")


if __name__ == "__main__":
    main()
