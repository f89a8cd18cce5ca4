"""Training speed figures shown live on the Train page and printed by bench/train_throughput.py.

- `TokenCounter` wraps a data collator and counts real (attention-mask) and processed (padded) tokens.
- `flops_per_token` is the matmul work of one training step per processed token: frozen weights need the
  forward (2N) and the input-gradient backward (2N); trainable weights also their weight gradient (6N);
  attention scores add 4 x layers x hidden x sequence length for the forward, the same again backward.
- `matmul_probe` is the practical peak of the device right now: a few matmuls of model-like shapes in the precision
  the run trains in (fp32 on a CPU without native bf16: an fp32 run measured against a bf16 peak would read 0.1x
  its MFU on AMX, and 10-50x it on an AVX2 CPU that only emulates bf16).
Model-FLOPs utilisation (MFU) = flops_per_token x processed tokens/s / matmul_probe. Against a peak of the same
precision it cannot pass 100%; a reading above it (a probe taken while other work held the cores) is left out, not
shown as a number that cannot be true, and logged.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def probe_precision(precision: str = "auto", device: str = "cpu") -> str:
    """The number format a run in `precision` multiplies in: 'auto' as tuner.models.pick_precision decides it
    (bf16 on a CPU only where bf16 is native, tuner/cpu/isa.py)."""
    if precision != "auto":
        return precision
    if device == "cpu":
        from . import isa

        return "bf16" if isa.native_bf16() else "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


class TokenCounter:
    """A collator wrapper that counts the tokens of every batch it builds."""

    def __init__(self, collator):
        self.collator = collator
        self.real = 0
        self.processed = 0
        self.rows = 0

    def __call__(self, features):
        batch = self.collator(features)
        ids = batch.get("input_ids")
        if ids is not None:
            mask = batch.get("attention_mask")
            self.processed += int(ids.numel())
            self.rows += int(ids.shape[0]) if ids.dim() > 1 else 1
            self.real += int(mask.sum()) if mask is not None else int(ids.numel())
        return batch


def flops_per_token(model, seq_len: float) -> float:
    """Matmul FLOPs per processed token of one training step (see the module docstring)."""
    from .cls_layer import first_token_layers

    # A layer computed for the first position only (tuner/cpu/cls_layer.py) multiplies its keys and values for
    # every token and its other weights for one token per sequence: count the work done, not the work skipped.
    trimmed = tuple(first_token_layers(model))
    share = 1.0 / max(seq_len, 1.0)
    frozen = trainable = 0.0
    for name, param in model.named_parameters():
        if param.dim() != 2 or "embed" in name or "wte" in name or "wpe" in name:
            continue  # embeddings are lookups, not matmuls
        n = param.numel()
        if name.startswith(trimmed) and ".key." not in name and ".value." not in name:
            n *= share
        if param.requires_grad:
            trainable += n
        else:
            frozen += n
    cfg = getattr(model, "config", None)
    layers = getattr(cfg, "num_hidden_layers", 0) or 0
    hidden = getattr(cfg, "hidden_size", 0) or 0
    layers = layers - len(trimmed) + len(trimmed) * share if layers else 0
    attention = 4 * layers * hidden * seq_len  # QK^T and AV, forward
    return 4 * frozen + 6 * trainable + 2 * attention


def matmul_probe(device: str = "cpu", seconds: float = 0.3, precision: str = "auto") -> float:
    """FLOP/s of matmuls in the training's own number format (`precision`: bf16, fp16, fp32 or auto, see
    `probe_precision`) on `device` right now, the best of a few model-like shapes: the peak MFU is measured
    against. Shapes are small on a CPU, so a format the CPU only emulates (bf16 without AVX512-BF16) costs a
    fraction of a second, not a minute."""
    import torch

    precision = probe_precision(precision, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    best = 0.0
    shapes = ((512, 768, 1536), (512, 384, 1536)) if device == "cpu" else ((8192, 8192, 8192),)
    budget = seconds / len(shapes)
    for m, k, n in shapes:
        a = torch.randn(m, k, dtype=dtype, device=device)
        b = torch.randn(k, n, dtype=dtype, device=device)
        a @ b
        reps, t0 = 0, time.perf_counter()
        while True:
            a @ b
            reps += 1
            if device != "cpu":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - t0
            if elapsed >= budget and reps >= 2:
                break
        best = max(best, 2 * m * k * n * reps / elapsed)
    return best


class SpeedMeter:
    """Real tokens/s and MFU since the previous reading, from a TokenCounter (for the live progress events)."""

    def __init__(self, counter: TokenCounter, model, device: str = "cpu", world_size: int = 1, precision: str = "auto"):
        self.counter, self.model, self.device, self.world = counter, model, device, max(1, world_size)
        self.precision = precision  # the run's own (tuner.models.pick_precision): the probe multiplies in it
        self.peak = 0.0
        self._last = None
        self._warned = False

    def start(self) -> None:
        try:
            self.peak = matmul_probe(self.device, precision=self.precision)
        except Exception:  # a probe failure only hides the utilisation figure
            self.peak = 0.0
        self._last = (time.perf_counter(), self.counter.real, self.counter.processed, self.counter.rows)

    def reading(self) -> dict:
        if self._last is None:
            return {}
        now, real, processed, rows = time.perf_counter(), self.counter.real, self.counter.processed, self.counter.rows
        t0, real0, processed0, rows0 = self._last
        elapsed, d_processed = now - t0, processed - processed0
        if elapsed <= 0 or d_processed <= 0:
            return {}
        self._last = (now, real, processed, rows)
        tokens_per_s = (real - real0) / elapsed * self.world
        out = {"tokens_per_s": round(tokens_per_s, 1), "padding_efficiency": round((real - real0) / d_processed, 3)}
        if self.peak:
            seq_len = d_processed / max(1, rows - rows0)
            mfu = flops_per_token(self.model, seq_len) * d_processed / elapsed / self.peak
            mfu = plausible_mfu(mfu, self)
            if mfu is not None:
                out["mfu"] = round(mfu, 3)
        return out


def plausible_mfu(mfu: float, source=None) -> float | None:
    """`mfu` when it can be true (0 to 1), else None. Above 1 the probe missed the real peak (it ran while other work
    held the cores): no reading is better than a wrong one. Logged once per `source` (a SpeedMeter)."""
    if mfu > 1.0:
        if source is None or not getattr(source, "_warned", False):
            log.warning("MFU %.0f%% is above 100%%: the matmul probe read a low peak; left out", 100 * mfu)
            if source is not None:
                source._warned = True
        return None
    return max(mfu, 0.0)
