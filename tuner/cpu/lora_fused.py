"""A plain LoRA layer's forward as one fused product: base(x) + scaling * (x A^T) B^T in a single addmm.

peft computes `result + lora_B(lora_A(dropout(x))) * scaling`: the scaling multiply and the add each read and
write the whole output (and the multiply runs again in the backward), which on a CPU costs about as much as the
adapter's own small matmuls. `torch.addmm(result, x A^T, B^T, alpha=scaling)` does the same sum in one kernel,
with one rounding instead of three under bf16 autocast. bench/lora_fused.py measures it.

Only the plain case is fused: one active LoRA adapter, no dropout on its input, no DoRA or other variant, no
LoRA bias, not merged. Everything else (disabled or merged adapters, mixed-adapter batches, dtypes autocast
would not reconcile) takes peft's own forward, decided at each call.
"""

from __future__ import annotations

import types


def fuse_lora_linears(model) -> int:
    """Give each peft LoRA `Linear` in `model` the fused forward. Returns how many layers got it."""
    from peft.tuners.lora.layer import Linear

    count = 0
    for module in model.modules():
        if isinstance(module, Linear) and not getattr(module, "fused_lora", False):
            module.forward = types.MethodType(_make_forward(module.forward), module)
            module.fused_lora = True
            count += 1
    return count


def _make_forward(peft_forward):
    def forward(self, x, *args, **kwargs):
        plain = _plain_adapter(self, x, args, kwargs)
        if plain is None:
            return peft_forward(x, *args, **kwargs)
        import torch
        import torch.nn.functional as F

        a, b, scaling = plain
        result = self.base_layer(x)
        low = F.linear(x, a)
        fused = torch.addmm(result.reshape(-1, result.shape[-1]), low.reshape(-1, low.shape[-1]), b.t(), alpha=scaling)
        return fused.view(result.shape).to(result.dtype)

    return forward


def _plain_adapter(layer, x, args, kwargs):
    """(A weight, B weight, scaling) when `layer`'s forward is the plain LoRA sum, else None."""
    import torch

    if args or kwargs or layer.disable_adapters or layer.merged or getattr(layer, "fan_in_fan_out", False):
        return None
    active = layer.active_adapters
    if len(active) != 1 or active[0] not in layer.lora_A:
        return None
    name = active[0]
    if name in getattr(layer, "lora_variant", {}) or not isinstance(layer.lora_dropout[name], torch.nn.Identity):
        return None
    lora_a, lora_b = layer.lora_A[name], layer.lora_B[name]
    if lora_a.bias is not None or lora_b.bias is not None:
        return None
    base = getattr(layer.get_base_layer(), "weight", None)
    if not torch.is_autocast_enabled(x.device.type) and not (
            base is not None and x.dtype == base.dtype == lora_a.weight.dtype == lora_b.weight.dtype):
        return None  # e.g. a bf16 base with fp32 adapters outside autocast: peft casts the input itself
    return lora_a.weight, lora_b.weight, layer.scaling[name]
