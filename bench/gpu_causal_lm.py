"""Causal-LM LoRA training throughput on a GPU: Tuner's path vs. a naive transformers baseline (issue #6).

    python -m bench.gpu_causal_lm                   # ~0.65B Llama-style model from a config, bf16, CUDA
    python -m bench.gpu_causal_lm --layers 16 --batch 16 --seq 1024
    python -m bench.gpu_causal_lm --smoke           # a tiny config on the CPU, a few steps (checks the script)
    python -m bench.gpu_causal_lm --profile auto    # where the tuner path's step time goes (torch.profiler)

Both variants train the same randomly initialised model (built from a LlamaConfig and saved once) with the same
LoRA adapter (r 16, alpha 32, every attention and MLP projection) and AdamW, one optimizer step per batch:
  * tuner: what tuner/train.py does: the task's `build_model` with bf16 frozen weights, the training attention
    (`models.fast_attention()`: SDPA on a GPU), dropout off, `models.attach_adapter`, the adapter in
    fp32 (`trainable_to_fp32`), no KV cache, autocast bf16 as the Trainer's bf16 mode does, each transformer block compiled
    (`models.compile_blocks`, train.compile auto: on a GPU); batches are full rows (what packing produces: no
    padding tokens). On a GPU the same path without the compile runs too;
  * naive: `AutoModelForCausalLM.from_pretrained` in fp32 (default attention), peft `get_peft_model`, autocast
    bf16, and padded batches (each row a random length between seq/4 and seq, padded to the longest).
Tokens/s counts real (non-padding) tokens only. MFU = 6 * N * tokens/s / peak bf16 FLOP/s, N = all parameters
(the usual convention; a LoRA step skips the frozen weights' gradients, so its true FLOPs are nearer 4 * N), against
the device's datasheet peak (dense bf16) and against a bf16 matmul measured in the same run; "executed FLOPs" is
the matmul work the step really does (4 per frozen weight, 6 per trainable one, attention, padding included) over
the same-run probe. Variants are interleaved A B A B (the one not running waits in CPU memory, so each peak-memory
figure is its own), medians.
Target on an H100: >= 40% MFU for the tuner path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# dense bf16 peak FLOP/s from the datasheets (no sparsity)
PEAKS = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12),
         ("L4", 121e12), ("A10", 125e12), ("RTX 4090", 165e12)]
FULL = dict(hidden_size=1536, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=12,
            num_key_value_heads=4, vocab_size=32000, max_position_embeddings=4096)   # ~0.65B parameters
SMOKE = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=512, max_position_embeddings=256)


def datasheet_peak(device: str) -> float | None:
    import torch

    if device != "cuda":
        return None
    name = torch.cuda.get_device_name(0)
    return next((peak for key, peak in PEAKS if key in name), None)


def matmul_probe(device: str, n: int) -> float:
    """Achieved bf16 FLOP/s of an n x n matmul, the best of a few timed runs."""
    import torch

    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        reps = 10 if device == "cuda" else 2
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * n ** 3 / best


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def build_base(folder: Path, shape: dict, device: str) -> int:
    """A random Llama-style model from a config, saved (bf16 safetensors) as a model folder; returns N."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(tie_word_embeddings=False, **shape)
    torch.manual_seed(0)
    with torch.device(device):  # initialising on the GPU takes seconds instead of a minute
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(folder), safe_serialization=True)
    (folder / "bench.json").write_text(json.dumps({"params": n_params}))
    del model
    return n_params


class Variant:
    def __init__(self, name: str, model, make_batch, device: str):
        import torch

        self.name, self.model, self.make_batch, self.device = name, model, make_batch, device
        params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=1e-4, fused=device == "cuda")
        self.times: list[float] = []
        self.tokens: list[int] = []
        self.processed: list[int] = []  # real + padding tokens
        self.peak = 0

    def step(self) -> tuple[int, int]:
        import torch

        batch, real = self.make_batch()
        with torch.autocast(self.device, dtype=torch.bfloat16):
            loss = self.model(**batch).loss
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return real, int(batch["input_ids"].numel())

    def window(self, steps: int, warmup: int) -> None:
        import torch

        self.model.to(self.device)
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        for _ in range(warmup):
            self.step()
        sync(self.device)
        t0 = time.perf_counter()
        counts = [self.step() for _ in range(steps)]
        sync(self.device)
        self.times.append(time.perf_counter() - t0)
        self.tokens.append(sum(real for real, _ in counts))
        self.processed.append(sum(processed for _, processed in counts))
        if self.device == "cuda":
            self.peak = max(self.peak, torch.cuda.max_memory_allocated())
            self.model.to("cpu")  # the other variant's peak is then its own
            torch.cuda.empty_cache()

    def tokens_per_s(self) -> float:
        return statistics.median(t / s for t, s in zip(self.tokens, self.times))

    def executed_flops_per_s(self, seq: int) -> float:
        """Matmul FLOP/s the step really does (`tuner.cpu.throughput.flops_per_token`: 4 per frozen weight, 6 per
        trainable one, plus attention), padding included: the hardware's share of the work, not the 6N convention."""
        from tuner.cpu.throughput import flops_per_token

        per_token = flops_per_token(self.model, seq)
        return statistics.median(p * per_token / s for p, s in zip(self.processed, self.times))


def tuner_variant(folder: Path, device: str, batch: int, seq: int, vocab: int, gen, compile_setting: str) -> Variant:
    import torch

    from tuner import models
    from tuner.config import AdapterConfig
    from tuner.tasks import get_task

    task = get_task("chat")
    source = str(folder)
    overrides = models.no_dropout_overrides(source)
    attn = "sdpa" if device == "cuda" else models.fast_attention()  # train.py: SDPA on a GPU
    model = task.build_model(source, {"task": "chat"}, dtype=torch.bfloat16, attn_implementation=attn, **overrides)
    model = models.attach_adapter(model, AdapterConfig(method="lora", r=16, alpha=32.0, dropout=0.0),
                                  task.peft_task_type, task.modules_to_save(model))
    _, compiled = models.ready_for_training(model, True, compile_setting, device)  # train.compile (auto: on a GPU)
    model.train()

    def make_batch():  # full rows: what packing gives, no padding
        ids = torch.randint(0, vocab, (batch, seq), generator=gen).to(device)
        return {"input_ids": ids, "labels": ids}, batch * seq

    how = f"{compiled} blocks compiled" if compiled else "not compiled"
    return Variant(f"tuner (bf16 weights, {attn} attention, packed rows, {how})", model, make_batch, device)


def naive_variant(folder: Path, device: str, batch: int, seq: int, vocab: int, gen) -> Variant:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    cfg = LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.0,
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, cfg)
    model.train()

    def make_batch():  # random lengths, padded to the longest row (DataCollatorWithPadding's way)
        lengths = torch.randint(seq // 4, seq + 1, (batch,), generator=gen)
        width = int(lengths.max())
        ids = torch.randint(0, vocab, (batch, width), generator=gen)
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        labels = ids.masked_fill(mask == 0, -100)
        return ({"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)},
                int(lengths.sum()))

    return Variant("naive (fp32 weights + autocast, padded)", model, make_batch, device)


def profile(variant: Variant, steps: int, warmup: int) -> None:
    """torch.profiler over `steps` steps after a warm-up: the 25 operations with the most device (or CPU) time."""
    import torch
    from torch.profiler import ProfilerActivity

    variant.window(1, warmup)  # moves the model to the device and compiles
    variant.model.to(variant.device)
    on_gpu = variant.device == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            variant.step()
        sync(variant.device)
    key = "self_cuda_time_total" if on_gpu else "self_cpu_time_total"
    print(f"{variant.name}: {steps} steps profiled")
    print(prof.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=70))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny config on the CPU, a few steps")
    ap.add_argument("--layers", type=int, help="override the number of layers")
    ap.add_argument("--batch", type=int, help="rows per step (default 8; smoke 2)")
    ap.add_argument("--seq", type=int, help="tokens per row (default 2048; smoke 64)")
    ap.add_argument("--steps", type=int, help="timed steps per window (default 5; smoke 2)")
    ap.add_argument("--rounds", type=int, default=3, help="A B rounds, interleaved (at least 3)")
    ap.add_argument("--profile", choices=["auto", "off"], help="instead of the table: profile a few steps of the tuner "
                    "path with this train.compile setting and print the operations that take the device's time")
    args = ap.parse_args()

    import torch

    if args.smoke:
        device, shape, batch, seq, steps, warmup = "cpu", dict(SMOKE), 2, 64, 2, 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("No CUDA GPU here; run with --smoke to check the script on the CPU.")
        device, shape, batch, seq, steps, warmup = "cuda", dict(FULL), 8, 2048, 5, 2
        torch.backends.cuda.matmul.allow_tf32 = True
    if args.layers:
        shape["num_hidden_layers"] = args.layers
    batch, seq, steps = args.batch or batch, args.seq or seq, args.steps or steps
    rounds = max(3, args.rounds)

    folder = Path(tempfile.mkdtemp(prefix="tuner-gpu-bench-"))
    n_params = build_base(folder, shape, device)
    gen = torch.Generator().manual_seed(0)
    if args.profile:
        profile(tuner_variant(folder, device, batch, seq, shape["vocab_size"], gen, args.profile), steps, warmup + 1)
        return
    variants = [tuner_variant(folder, device, batch, seq, shape["vocab_size"], gen, "auto")]  # the train.py default
    if device == "cuda":  # what the compile adds (on the CPU auto is already off)
        variants.append(tuner_variant(folder, device, batch, seq, shape["vocab_size"], gen, "off"))
    variants.append(naive_variant(folder, device, batch, seq, shape["vocab_size"], gen))
    for v in variants:
        v.model.to("cpu")
    probe = matmul_probe(device, 8192 if device == "cuda" else 512)
    for r in range(rounds):
        for v in (variants if r % 2 == 0 else variants[::-1]):
            v.window(steps, warmup if r < 2 else 0)
            print(f"round {r + 1}: {v.name}: {v.tokens[-1] / v.times[-1]:,.0f} tokens/s", file=sys.stderr)

    peak = datasheet_peak(device)
    name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\nCausal-LM LoRA training step, {name}: Llama-style model from a config, {n_params / 1e6:,.{0 if n_params > 1e8 else 2}f}M parameters, "
          f"{batch} x {seq} tokens per step, {rounds} interleaved rounds of {steps} steps, medians. "
          f"bf16 matmul probe: {probe / 1e12:.{1 if probe > 1e12 else 4}f} TFLOP/s"
          + (f"; datasheet peak {peak / 1e12:.0f} TFLOP/s." if peak else ".") + "\n")
    print("| variant | tokens/s | MFU (datasheet) | MFU (vs probe) | executed FLOPs (vs probe) | peak memory |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants:
        tps = v.tokens_per_s()
        flops = 6 * n_params * tps
        mfu = f"{100 * flops / peak:.1f}%" if peak else "–"
        mem = f"{v.peak / 2**30:.1f} GiB" if device == "cuda" else "–"
        executed = 100 * v.executed_flops_per_s(seq) / probe
        print(f"| {v.name} | {tps:,.0f} | {mfu} | {100 * flops / probe:.1f}% | {executed:.1f}% | {mem} |")
    speedup = variants[0].tokens_per_s() / variants[-1].tokens_per_s()
    print(f"| **tuner / naive** | **{speedup:.2f}x** | target >= 40% MFU on an H100 | | | |")


if __name__ == "__main__":
    main()
