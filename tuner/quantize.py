"""8-bit (LLM.int8) and 4-bit (NF4/FP4) base weights through bitsandbytes, for adapter training (QLoRA).

`quantization_kwargs(cfg)` gives the `from_pretrained` kwargs (a `BitsAndBytesConfig`); `prepare(model)` runs
peft's `prepare_model_for_kbit_training` (norms in fp32, input gradients on; gradient checkpointing only on a
GPU, where it saves memory, since on the CPU it only costs time). `check_available` refuses, in one sentence,
a setting the installed bitsandbytes cannot run on this machine.
"""

from __future__ import annotations

import functools
import logging

from .errors import ModelError

log = logging.getLogger(__name__)

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
# transformers matches these from the start of a module's full name (as regexes) or as a suffix
KEEP_FULL_PRECISION = ("classifier", "score", r".*\.pooler", "lm_head", r".*token_type_embeddings")


@functools.lru_cache(maxsize=1)
def bitsandbytes_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("bitsandbytes")
    except Exception:  # not installed
        return None


@functools.lru_cache(maxsize=4)
def can_run(mode: str, device: str) -> tuple[bool, str]:
    """Whether bitsandbytes runs `mode` ('8bit'/'4bit') on `device` ('cpu'/'cuda'): one real quantized
    forward+backward through a tiny layer, cached. Returns (ok, reason)."""
    if bitsandbytes_version() is None:
        return False, "bitsandbytes is not installed (pip install bitsandbytes)"
    try:
        import bitsandbytes as bnb
        import torch

        torch.manual_seed(0)
        x = torch.randn(4, 64, device=device, requires_grad=True)
        if mode == "8bit":
            layer = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False, threshold=6.0)
        else:
            layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.float32, quant_type="nf4")
        layer = layer.to(device)
        out = layer(x)
        out.float().sum().backward()
        if not torch.isfinite(out).all() or x.grad is None:
            return False, "its output was not finite"
        return True, ""
    except Exception as exc:  # any failure means "not here"
        log.info("bitsandbytes %s on %s failed: %r", mode, device, exc)
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def check_available(mode: str, device: str) -> None:
    if mode == "none":
        return
    ok, why = can_run(mode, device)
    if not ok:
        where = "this GPU" if device == "cuda" else "the CPU"
        raise ModelError(f"{mode} quantization cannot run on {where} with the installed bitsandbytes "
                         f"({bitsandbytes_version() or 'none'}); set quantization to none or train on a supported GPU.")


def compute_dtype(choice: str, precision: str):
    import torch

    if choice == "auto":
        choice = precision if precision in ("bf16", "fp16") else "fp32"
    return getattr(torch, DTYPES[choice])


def quantization_kwargs(train_cfg, precision: str, device: str) -> dict:
    """`from_pretrained` kwargs that load the base weights quantized ({} for quantization 'none')."""
    mode = train_cfg.quantization
    if mode == "none":
        return {}
    check_available(mode, device)
    from transformers import BitsAndBytesConfig

    # heads and poolers stay in full precision: they are trained in full (modules_to_save) or feed the loss
    skip = list(KEEP_FULL_PRECISION)
    if mode == "8bit":
        bnb = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    else:
        bnb = BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=skip, bnb_4bit_quant_type=train_cfg.quant_type,
                                 bnb_4bit_use_double_quant=train_cfg.double_quant,
                                 bnb_4bit_compute_dtype=compute_dtype(train_cfg.compute_dtype, precision))
    return {"quantization_config": bnb, "device_map": {"": 0 if device == "cuda" else "cpu"}}


def prepare(model, device: str):
    """peft's k-bit preparation: layer norms in fp32, input gradients enabled for the adapters."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=device == "cuda")
