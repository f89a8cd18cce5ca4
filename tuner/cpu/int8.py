"""Dynamic int8 weights for prediction: every Linear of an encoder classifier as an int8 matrix product.

torch.ao's dynamic quantization stores each Linear's weight as int8 (per output channel) and quantizes each batch's
activations on the fly; the matmul runs in FBGEMM's int8 kernels. Opt-in (TUNER_INFER_DTYPE=int8), not a
default: on emulated AVX2 a trained SST-2 run predicted ~1.4x more rows per CPU-second than fp32, but 4-6% of its
labels changed and accuracy fell 0.7-1.0 points (per-channel weights: 0.6-0.8). bench/cpu_kinds.py measures speed and agreement. The head (classifier,
pooler) stays fp32: it is tiny and decides the label. A PyTorch without torch.ao's dynamic quantization (it is deprecated in favour of
torchao) gets None, and the file's rows stay in fp32.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

KEEP_FP32 = ("classifier", "score", "pooler")  # head modules left in fp32


def quantized_copy(model):
    """A copy of `model` (left as it is) with its encoder's Linear layers in dynamic int8, in eval mode; None where
    this PyTorch cannot make one."""
    import copy
    import warnings

    import torch

    names = {name for name, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and not any(part in KEEP_FP32 for part in name.split("."))}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notices, once per model
            from torch.ao.quantization import quantize_dynamic

            return quantize_dynamic(copy.deepcopy(model).eval(), names, dtype=torch.qint8)
    except (ImportError, AttributeError, RuntimeError, NotImplementedError) as exc:
        log.warning("dynamic int8 is not available here (%s); file rows stay in fp32", exc)
        return None
