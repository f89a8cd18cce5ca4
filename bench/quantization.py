"""Peak memory and speed of the same LoRA recipe with the base weights in fp32, bf16, 8-bit and 4-bit.

    python -m bench.quantization                       # bundled MiniLM classifier, batch 16 x 128 tokens, 10 steps
    python -m bench.quantization --model tiny:llama --task chat --steps 20

Each precision runs in its own fresh process (so peak memory is that run's alone): load the model through
`tuner.quantize` exactly as `tuner.train` does, attach LoRA (r 16, all projections), run timed AdamW steps on
random tokens. Prints one row per mode: weight bytes (`get_memory_footprint`), peak memory (CUDA max allocated
on a GPU, else the process's peak resident set), load time, seconds per step. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ["fp32", "bf16", "8bit", "4bit"]


def one(mode: str, model_name: str, task_name: str, steps: int, batch: int, length: int) -> dict:
    import torch

    from tuner import models, quantize
    from tuner.config import AdapterConfig, TrainConfig
    from tuner.tasks import get_task

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    task = get_task(task_name)
    source = models.resolve(model_name)
    precision = "bf16" if mode in ("bf16", "4bit", "8bit") and (cuda or models.cpu_has_fast_bf16()) else "fp32"
    if mode == "fp32":
        precision = "fp32"
    quant = quantize.quantization_kwargs(TrainConfig(quantization=mode if mode in ("8bit", "4bit") else "none"),
                                         precision, device)
    t0 = time.time()
    model = task.build_model(source, {"labels": ["a", "b", "c"]},
                             dtype={"bf16": torch.bfloat16, "fp32": torch.float32}.get(mode), **quant)
    if quant:
        model = quantize.prepare(model, device)
    elif cuda:
        model.to("cuda")
    model = models.attach_adapter(model, AdapterConfig(r=16, alpha=32), task.peft_task_type, task.modules_to_save(model))
    models.trainable_to_fp32(model)
    load_s = time.time() - t0
    weights = model.get_memory_footprint()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.config.vocab_size
    ids = torch.randint(5, vocab - 1, (batch, length), device=device)
    labels = ids if task_name == "chat" else (torch.zeros(batch, length, dtype=torch.long, device=device)
                                             if task_name == "ner" else torch.zeros(batch, dtype=torch.long, device=device))
    use_autocast = precision == "bf16"
    times = []
    for i in range(steps + 1):
        t = time.time()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=use_autocast):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if cuda:
            torch.cuda.synchronize()
        if i:  # the first step warms up kernels and allocators
            times.append(time.time() - t)
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"mode": mode, "device": device, "precision": precision, "weights_mb": weights / 2 ** 20,
            "peak_mb": peak / 2 ** 20, "load_s": load_s, "step_s": sum(times) / len(times),
            "loss": float(loss.detach().float())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--task", default="classification", choices=["classification", "ner", "chat"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print("RESULT " + json.dumps(one(a.one, a.model, a.task, a.steps, a.batch, a.length)))
        return 0
    print(f"model {a.model}, task {a.task}, LoRA r16, batch {a.batch} x {a.length} tokens, {a.steps} timed steps")
    print(f"{'mode':>5} {'device':>6} {'weights MB':>11} {'peak MB':>9} {'load s':>7} {'s/step':>8}  note")
    for mode in a.modes.split(","):
        argv = [sys.executable, "-m", "bench.quantization", "--one", mode, "--model", a.model, "--task", a.task, "--steps",
                str(a.steps), "--batch", str(a.batch), "--length", str(a.length)]
        out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            err = (out.stderr.strip().splitlines() or ["failed"])[-1][:120]
            print(f"{mode:>5} {'-':>6} {'-':>11} {'-':>9} {'-':>7} {'-':>8}  {err}")
            continue
        r = json.loads(line[7:])
        print(f"{mode:>5} {r['device']:>6} {r['weights_mb']:>11.1f} {r['peak_mb']:>9.0f} {r['load_s']:>7.1f} "
              f"{r['step_s']:>8.3f}  compute {r['precision']}, final loss {r['loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
