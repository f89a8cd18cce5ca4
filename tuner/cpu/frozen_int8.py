"""Frozen weights as int8 products while a LoRA run trains on an AVX2-only CPU.

With LoRA every encoder Linear is frozen: a training step needs its forward and its input gradient, never a weight
gradient. On an AVX2 CPU (no AMX, no AVX512-BF16: bf16 is emulated there) those fp32 products already run at the
cores' fp32 peak, while FBGEMM's AVX2 int8 kernels run MiniLM's shapes ~1.6x faster, and a training step 1.25-1.3x
(docs/performance.md, bench/train_throughput.py --variants tuner_fp32,tuner). So during training each frozen Linear multiplies in int8: its weight is quantized once
per output channel (symmetric, scale = max |w| / 127), each batch's activations per tensor on the fly
(torch.ops.quantized.linear_dynamic). The input gradient g W (mode "int8", the default) is an int8 product too,
with W^T packed the same way and one scale per gradient row (token): one scale for the whole gradient tensor (mode
"int8-tensor") rounds the small rows to zero and cost 2-4 points of SST-2 accuracy.
Mode "int8-fwd" keeps the exact fp32 input gradient.

Only training multiplies in int8. In eval mode (the run's own evaluation, prediction) nothing changes: the layer's forward is fp32 as written, its state dict holds the same fp32 weight, and the
saved adapter is a plain peft adapter that loads into an fp32 model. The adapter and the head stay fp32.

`use(model, mode)` patches the layers in place (the forward of each plain frozen nn.Linear outside the head, the
same way tuner/cpu/lora_fused.py patches peft's LoRA layers); `default_mode()` is the per-CPU choice; `remove`
undoes it.
"""

from __future__ import annotations

import functools
import logging
import types

log = logging.getLogger(__name__)

MODES = ("off", "int8", "int8-fwd", "int8-tensor")
KEEP_FP32 = ("classifier", "score", "pooler", "lm_head")  # head modules: tiny, and they decide the label
ENCODERS = {"bert", "roberta", "xlm-roberta", "electra", "camembert", "distilbert", "mpnet"}  # `measured_for`'s types


def default_mode(precision: str, device: str, model=None) -> str:
    """int8 frozen products where the CPU is AVX2-only (tuner/cpu/isa.py; an ISA cap in the environment counts), the
    run is fp32 on the CPU and the model is what its accuracy was measured on (`measured_for`; `model` None: not
    checked); "off" everywhere else: bf16-native CPUs keep bf16 frozen weights, GPUs their own, and decoder LMs,
    whose activations carry outlier channels that a per-tensor int8 scale would flatten, stay fp32."""
    from . import isa

    if device != "cpu" or precision != "fp32" or isa.kind() != "avx2":
        return "off"
    return "int8" if model is None or measured_for(model) else "off"


def measured_for(model) -> bool:
    """A single-label sequence classifier on a BERT-family encoder: where int8's accuracy was measured (SST-2,
    docs/performance.md). Entity tagging (token classification) and multi-label heads read per-token or per-label
    signals whose int8 accuracy was not measured, so they stay fp32."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(model, "config", None)
    return (getattr(config, "model_type", None) in ENCODERS
            and type(base).__name__.endswith("ForSequenceClassification")
            and getattr(config, "problem_type", None) != "multi_label_classification")


def available() -> bool:
    """True where this PyTorch has FBGEMM's dynamic int8 linear (x86 CPUs)."""
    import torch

    return "fbgemm" in torch.backends.quantized.supported_engines or "x86" in torch.backends.quantized.supported_engines


def frozen_linears(model) -> list:
    """(name, module) of every plain nn.Linear in `model` with a frozen fp32 weight, outside the head."""
    import torch

    found = []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if (type(module) is torch.nn.Linear and weight is not None and not weight.requires_grad
                and weight.dtype == torch.float32 and (module.bias is None or not module.bias.requires_grad)
                and not any(part in KEEP_FP32 for part in name.split("."))):
            found.append((name, module))
    return found


def use(model, mode: str) -> int:
    """Give each frozen Linear of `model` the int8 training forward of `mode` ("int8": int8 forward and per-row
    int8 input gradient; "int8-tensor": its input gradient with one scale per tensor; "int8-fwd": int8 forward, fp32
    input gradient; "off": nothing). Returns how many layers got it."""
    if mode not in MODES:
        raise ValueError(f"frozen weights mode {mode!r} is not one of {MODES}")
    if mode == "off" or not available():
        return 0
    layers = frozen_linears(model)
    for _, module in layers:
        if not hasattr(module, "frozen_int8"):
            module.forward = types.MethodType(_forward, module)
        module.frozen_int8 = mode
        module._int8_packed = None  # packed on the first training forward
    return len(layers)


def remove(model) -> int:
    """Undo `use`: every patched layer gets its own fp32 forward back and drops its int8 copies."""
    count = 0
    for module in model.modules():
        if hasattr(module, "frozen_int8"):
            del module.forward, module.frozen_int8, module._int8_packed
            count += 1
    return count


def _forward(self, x):
    import torch
    import torch.nn.functional as F

    if (not self.training or x.dtype != torch.float32 or self.weight.requires_grad
            or torch.is_autocast_enabled(x.device.type) or x.device.type != "cpu"):
        return F.linear(x, self.weight, self.bias)
    return _product().apply(x, self)


def _packed(layer):
    """(forward pack, input-gradient weights or None) of `layer`, made once per weight version."""
    version = (layer.weight.data_ptr(), layer.weight._version, layer.frozen_int8)
    cached = layer._int8_packed
    if cached is None or cached[0] != version:
        w = layer.weight.detach()
        bias = None if layer.bias is None else layer.bias.detach()
        transposed = _pack(w.t().contiguous(), None) if layer.frozen_int8 in ("int8", "int8-tensor") else None
        cached = layer._int8_packed = (version, _pack(w, bias), transposed)
    return cached[1], cached[2]


def _pack(weight, bias):
    """FBGEMM's packed int8 weight: per output channel, 8 bits, symmetric."""
    import warnings

    import torch

    scale = (weight.abs().amax(dim=1).clamp_min(1e-12) / 127).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors' deprecation notice, once per layer
        q = torch.quantize_per_channel(weight, scale, torch.zeros(weight.shape[0], dtype=torch.long), 0,
                                       torch.qint8)
        return torch.ops.quantized.linear_prepack(q, bias)


def _rows_product(grad, packed_t):
    """grad [.., out] x W [out, in] in int8 with one scale per gradient row (token): gradients differ by orders of
    magnitude between tokens, which one scale for the whole tensor would round to zero. Each row is divided by its
    largest magnitude, so FBGEMM's per-tensor quantization (W^T packed per channel) is per row, and the product's
    rows are multiplied back. (torch._int_mm with per-row scales did the same ~1.2x faster than fp32 on one thread,
    but slower than fp32 on two.)"""
    import torch

    rows = grad.reshape(-1, grad.shape[-1])
    row_max = rows.abs().amax(dim=1, keepdim=True).clamp_min_(1e-30)
    out = torch.ops.quantized.linear_dynamic(rows / row_max, packed_t, True).mul_(row_max)
    return out.view(*grad.shape[:-1], out.shape[-1])


@functools.cache
def _product():
    """The autograd Function, built on first use so that importing this module does not import torch."""
    import torch

    class FrozenInt8Product(torch.autograd.Function):
        """y = x W^T + b in int8 (W frozen); backward: the input gradient only."""

        @staticmethod
        def forward(ctx, x, layer):
            packed, backward = _packed(layer)
            ctx.layer, ctx.backward = layer, backward
            # reduce_range: 7-bit activations, as FBGEMM's AVX2 kernels need to keep their 16-bit sums in range
            return torch.ops.quantized.linear_dynamic(x, packed, True)

        @staticmethod
        def backward(ctx, grad):
            mode, weights = ctx.layer.frozen_int8, ctx.backward
            if mode == "int8":
                return _rows_product(grad, weights), None
            if mode == "int8-tensor":
                return torch.ops.quantized.linear_dynamic(grad.contiguous(), weights, True), None
            return grad.matmul(ctx.layer.weight), None

    return FrozenInt8Product
