"""Which CPU speed choices pay on this CPU kind (issue #27): training-step and file-prediction options, interleaved.

    python -m bench.cpu_kinds                                  # this CPU as it is (AMX here)
    env ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 \\
        python -m bench.cpu_kinds                              # an AVX2-only CPU emulated on an AMX one
    python -m bench.cpu_kinds --part predict --rounds 5 --threads 1,2

Training: the MiniLM + LoRA classifier as `python -m tuner train` builds it (bench.train_throughput.tuner_model,
precision auto) on length-grouped SST-2 batches, in a plain loop (forward, backward, fused AdamW), one option
changed at a time: attention kernel, [CLS]-only last layer, fused LoRA sum, the frozen weights' products (fp32,
int8 forward only; the default is tuner/cpu/frozen_int8.py's choice for the CPU), batch size, torch threads, and with
`--compile` torch.compile'd blocks. Prediction:
SST-2 dev.tsv (872 rows) through the classifier's own prediction loop (tasks/common.batched_logits, 64-row
length-sorted batches), merged fp32 weights against dynamic int8 (torch.ao quantize_dynamic of every Linear) and,
where bf16 is native, bf16 autocast, with the share of labels equal to fp32.
Both parts report wall-clock rows/s and rows per CPU-second (process time / threads): on a shared machine the
second is the steadier figure for single-thread options. Medians of `--rounds` interleaved rounds (A B C, C B A).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.machine import cpu_header, precision_line


def _timed(fn, threads: int) -> tuple[float, float]:
    import torch

    torch.set_num_threads(threads)
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, (time.process_time() - c) / threads


def train_options(rows: int, steps: int, threads: list[int], compile_blocks: bool = False) -> dict:
    """name -> (function running `steps` optimizer steps, rows per call, threads)."""
    import torch

    from bench.train_throughput import ROOT, load_rows, tuner_model
    from tuner import models
    from tuner.config import RunConfig
    from tuner.tasks import get_task

    cfg = RunConfig.load(str(ROOT / "recipes" / "classification.yaml"))
    texts, labels = load_rows(rows)
    source = models.resolve("default")
    tok = models.load_tokenizer(source)
    task = get_task("classification")
    ds = task.encode({"text": texts, "label": labels}, tok, 128)
    collate = task.collator(tok)
    order = sorted(range(len(ds)), key=lambda i: len(ds[i]["input_ids"]))  # length-grouped, as group_by_length
    bf16 = models.pick_precision("auto") == "bf16"

    def make(batch: int, first_token_only=True, fuse=True, attention=None, compile_blocks=False, frozen="auto"):
        model = tuner_model(source, cfg.adapter, first_token_only, frozen=frozen)
        if compile_blocks:
            models.compile_blocks(model, "on", "cpu")  # train.compile: on (each encoder block, regional)
        if attention:
            model.set_attn_implementation(attention)
        if not fuse:
            from peft.tuners.lora.layer import Linear

            for m in model.modules():
                if isinstance(m, Linear) and getattr(m, "fused_lora", False):
                    del m.forward  # back to the class's own forward
                    m.fused_lora = False
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
        chunks = [order[i:i + batch] for i in range(0, len(order) - batch + 1, batch)]
        state = {"pos": 0}

        def run():
            for _ in range(steps):
                idx = chunks[state["pos"] % len(chunks)]
                state["pos"] += 7  # hop across lengths, as a shuffled length-grouped sampler does
                b = collate([ds[i] for i in idx])
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = model(**b).loss
                loss.backward()
                opt.step()
                opt.zero_grad()

        return run

    base = cfg.train.batch_size
    out = {f"tuner default (batch {base})": (make(base), base * steps, threads[-1]),
           "sdpa attention": (make(base, attention="sdpa"), base * steps, threads[-1]),
           "no [CLS]-only last layer": (make(base, first_token_only=False), base * steps, threads[-1]),
           "peft's LoRA sum (not fused)": (make(base, fuse=False), base * steps, threads[-1]),
           "frozen weights fp32 (no int8 products)": (make(base, frozen="off"), base * steps, threads[-1]),
           "frozen weights: int8 forward, fp32 input gradient": (make(base, frozen="int8-fwd"), base * steps,
                                                                  threads[-1])}
    for b in (base // 2, base * 2):
        out[f"batch {b}"] = (make(b), b * steps, threads[-1])
    if compile_blocks:
        out["torch.compile each block (train.compile: on)"] = (make(base, compile_blocks=True), base * steps, threads[-1])
    for t in threads[:-1]:
        out[f"{t} thread(s)"] = (out[f"tuner default (batch {base})"][0], base * steps, t)
    return out


def predict_options(threads: list[int]) -> tuple[dict, dict]:
    """name -> (function predicting dev.tsv, rows, threads), and name -> its labels."""
    import os
    import tempfile

    import numpy as np
    import pandas as pd
    import torch

    from bench.train_throughput import SST2
    from tuner import models

    os.environ.setdefault("TUNER_RUNS_DIR", tempfile.mkdtemp(prefix="tuner-kinds-runs-"))
    from bench.demo_latency import make_classifier_run
    from tuner.cpu.int8 import quantized_copy
    from tuner.inference import Predictor
    from tuner.tasks.common import batched_logits

    pred = Predictor(make_classifier_run())
    texts = pd.read_csv(SST2 / "dev.tsv", sep="\t", quoting=3).content.astype(str).tolist()
    fp32 = pred.model
    int8 = quantized_copy(fp32)
    labels: dict = {}

    def make(name, model, autocast=False):
        def run():
            out = np.empty(len(texts), dtype=np.int64)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                for idx, logits in batched_logits(model, pred.tokenizer, texts, 128, 64, 8192):
                    out[idx] = logits.argmax(-1)
            labels[name] = out
        return run

    opts = {"fp32 (merged weights)": (make("fp32 (merged weights)", fp32), len(texts), threads[-1]),
            "dynamic int8": (make("dynamic int8", int8), len(texts), threads[-1])}
    if models.cpu_has_fast_bf16():
        opts["bf16 autocast"] = (make("bf16 autocast", fp32, True), len(texts), threads[-1])
    for t in threads[:-1]:
        opts[f"fp32, {t} thread(s)"] = (opts["fp32 (merged weights)"][0], len(texts), t)
        opts[f"int8, {t} thread(s)"] = (opts["dynamic int8"][0], len(texts), t)
    return opts, labels


def measure(options: dict, rounds: int) -> dict:
    for fn, _, t in options.values():
        _timed(fn, t)  # warm-up: oneDNN/FBGEMM build kernels per shape
    res = {name: [] for name in options}
    names = list(options)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, rows, t = options[name]
            wall, cpu = _timed(fn, t)
            res[name].append((rows / wall, rows / cpu))
    return res


def table(title: str, res: dict, labels: dict | None = None) -> None:
    first = next(iter(res))
    base = statistics.median(r[0] for r in res[first])
    base_cpu = statistics.median(r[1] for r in res[first])
    print(f"\n{title}")
    print("| option | rows/s | vs first | rows per CPU-second | vs first" + (" | labels = fp32 |" if labels else " |"))
    print("|---|---:|---:|---:|---:|" + ("---:|" if labels else ""))
    for name, rs in res.items():
        wall, cpu = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        line = f"| {name} | {wall:,.1f} | {wall / base:.2f}x | {cpu:,.1f} | {cpu / base_cpu:.2f}x |"
        if labels:
            key = name if name in labels else ("dynamic int8" if name.startswith("int8") else "fp32 (merged weights)")
            line += f" {(labels[key] == labels['fp32 (merged weights)']).mean():.1%} |"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="train,predict")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8, help="optimizer steps per timed training call")
    ap.add_argument("--rows", type=int, default=2048, help="SST-2 training rows the batches come from")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd blocks (its warm-up compiles "
                    "for minutes on a CPU, and recompiles per new batch shape: give it --steps 40 or more)")
    ap.add_argument("--threads", default="", help="comma-separated torch thread counts to compare; the last is "
                    "every option's (default: 1 and all cores)")
    args = ap.parse_args()
    import os

    from tuner.cpu import malloc as cpu_malloc

    cpu_malloc.keep_freed_memory()
    threads = [int(t) for t in args.threads.split(",") if t] or sorted({1, os.cpu_count() or 1})
    print(cpu_header())
    print(precision_line())
    if "train" in args.part:
        table(f"Training steps ({args.steps} per call, {args.rounds} rounds, medians), samples/s",
              measure(train_options(args.rows, args.steps, threads, args.compile), args.rounds))
    if "predict" in args.part:
        opts, labels = predict_options(threads)
        table(f"File prediction, SST-2 dev.tsv ({args.rounds} rounds, medians), rows/s", measure(opts, args.rounds), labels)


if __name__ == "__main__":
    main()
