"""The fused LoRA forward (tuner/cpu/lora_fused.py): peft's answers and gradients, and peft's own path where it differs."""

import torch

from tuner import models
from tuner.config import AdapterConfig
from tuner.cpu import lora_fused
from tuner.tasks import get_task

TEXTS = ["a great movie", "it was terrible and long and boring, honestly the worst film of the year", "meh"]
META = {"labels": ["neg", "neu", "pos"]}
TARGETS = ["query", "value", "intermediate.dense"]


def _lora_pair(source, dtype=None, **adapter):
    """Two copies of the same LoRA classifier (B non-zero, so the adapter changes the answer); the second fused."""
    task = get_task("classification")
    cfg = AdapterConfig(r=4, alpha=8, target_modules=TARGETS, **adapter)
    pair = []
    for _ in range(2):
        torch.manual_seed(0)
        model = task.build_model(str(source), META, dtype=dtype)
        model = models.attach_adapter(model, cfg, "SEQ_CLS", task.modules_to_save(model))
        models.trainable_to_fp32(model)
        pair.append(model)
    with torch.no_grad():
        for name, p in pair[0].named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    pair[1].load_state_dict(pair[0].state_dict())
    return pair[0], pair[1]


def _forward_backward(model, batch, autocast: bool):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = model(**batch, labels=torch.tensor([0, 1, 2]))
    out.loss.backward()
    return out.logits.float(), {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}


def test_same_logits_and_gradients_as_peft(tiny_model_dir):
    plain, fused = _lora_pair(tiny_model_dir)
    layers = sum(1 for m in fused.modules() if type(m).__name__ == "Linear" and hasattr(m, "lora_A"))
    assert lora_fused.fuse_lora_linears(fused) == layers == 2 * len(TARGETS)  # 2 encoder layers
    assert lora_fused.fuse_lora_linears(fused) == 0  # already fused: not wrapped twice
    tok = models.load_tokenizer(str(tiny_model_dir))
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    logits_a, grads_a = _forward_backward(plain.eval(), batch, False)  # eval: no dropout masks
    logits_b, grads_b = _forward_backward(fused.eval(), batch, False)
    torch.testing.assert_close(logits_b, logits_a, atol=1e-5, rtol=1e-4)
    assert grads_a.keys() == grads_b.keys() and any("lora_A" in n for n in grads_a)
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, atol=1e-5, rtol=1e-4)


def test_bf16_base_under_autocast_is_as_close_to_fp32_as_peft(tiny_model_dir):
    """The training set-up on a CPU: bf16 frozen base, fp32 adapter, bf16 autocast. One rounding instead of
    three, so compare both paths with the same model in fp32 rather than bit for bit with each other."""
    plain, fused = _lora_pair(tiny_model_dir, torch.bfloat16)
    _, exact = _lora_pair(tiny_model_dir, torch.bfloat16)
    exact.float()
    lora_fused.fuse_lora_linears(fused)
    batch = models.load_tokenizer(str(tiny_model_dir))(TEXTS, padding=True, return_tensors="pt")
    logits_a, grads_a = _forward_backward(plain.eval(), batch, True)
    logits_b, grads_b = _forward_backward(fused.eval(), batch, True)
    logits_x, grads_x = _forward_backward(exact.eval(), batch, False)
    assert (logits_b - logits_x).abs().max() <= 2 * (logits_a - logits_x).abs().max() + 1e-3
    for name, grad in grads_x.items():
        cos_a, cos_b = (float(torch.nn.functional.cosine_similarity(g[name].flatten(), grad.flatten(), dim=0))
                        for g in (grads_a, grads_b))
        assert cos_b > cos_a - 0.02 and (cos_b > 0.97 or "lora_" not in name), (name, cos_a, cos_b)


def test_other_cases_take_peft_forward(tiny_model_dir):
    tok = models.load_tokenizer(str(tiny_model_dir))
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    plain, fused = _lora_pair(tiny_model_dir)
    lora_fused.fuse_lora_linears(fused)
    plain.eval(), fused.eval()
    with torch.no_grad():
        with plain.disable_adapter(), fused.disable_adapter():  # the base model's answer, adapter off
            base_a, base_b = plain(**batch).logits, fused(**batch).logits
        torch.testing.assert_close(base_b, base_a)
        assert not torch.allclose(base_b, fused(**batch).logits, atol=1e-3)  # the adapter does change it
    layer = next(m for m in fused.modules() if getattr(m, "fused_lora", False))
    x = torch.randn(2, 3, layer.in_features)
    assert lora_fused._plain_adapter(layer, x, (), {}) is not None
    assert lora_fused._plain_adapter(layer, x, (), {"adapter_names": ["default"] * 2}) is None
    layer.merge()
    assert lora_fused._plain_adapter(layer, x, (), {}) is None
    layer.unmerge()
    # mixed dtypes outside autocast (bf16 base, fp32 adapter): decided before any work, left to peft's input cast
    _, mixed = _lora_pair(tiny_model_dir, torch.bfloat16)
    layer = next(m for m in mixed.modules() if hasattr(m, "lora_A"))
    assert lora_fused._plain_adapter(layer, x.bfloat16(), (), {}) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lora_fused._plain_adapter(layer, x.bfloat16(), (), {}) is not None
    lora_fused.fuse_lora_linears(mixed)
    with torch.no_grad():
        torch.testing.assert_close(layer(x.bfloat16()), layer.__class__.forward(layer, x.bfloat16()))
    _, dropped = _lora_pair(tiny_model_dir, dropout=0.1)
    _, dora = _lora_pair(tiny_model_dir, use_dora=True)
    for model in (dropped, dora):
        layer = next(m for m in model.modules() if hasattr(m, "lora_A"))
        assert lora_fused._plain_adapter(layer, x, (), {}) is None


def test_training_path_fuses_unless_compiled(tiny_model_dir):
    _, model = _lora_pair(tiny_model_dir)
    models.ready_for_training(model, False, "off", "cpu")
    assert any(getattr(m, "fused_lora", False) for m in model.modules())
