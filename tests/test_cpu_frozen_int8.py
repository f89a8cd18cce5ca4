"""Frozen weights as int8 products while training on an AVX2-only CPU (tuner/cpu/frozen_int8.py): the products
and input gradients against fp32, a training step through the product's own path, the per-CPU choice, and the saved
adapter in a plain fp32 model."""

import pytest
import torch

from tuner import models
from tuner.config import AdapterConfig
from tuner.cpu import frozen_int8, isa
from tuner.tasks import get_task

pytestmark = pytest.mark.skipif(not frozen_int8.available(), reason="this PyTorch has no FBGEMM int8 kernels")

META = {"labels": ["neg", "neu", "pos"]}
TARGETS = ["query", "value", "intermediate.dense"]
AMX = frozenset("avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8".split())
ZEN3 = frozenset("avx avx2 fma bmi2 sha_ni".split())
# Tolerances, relative Frobenius error against fp32 (measured ~0.02: 7-bit activations, 8-bit per-channel weights)
INT8_REL = 0.05


def rel(a, b):
    return float((a - b).norm() / b.norm())


def _layer_and_grads(mode):
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 96).requires_grad_(False)
    x = torch.randn(3, 7, 64, requires_grad=True)
    g = torch.randn(3, 7, 96)
    ref = torch.nn.functional.linear(x, layer.weight, layer.bias)
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    assert frozen_int8.use(torch.nn.Sequential(layer), mode) == 1
    y = layer.train()(x)
    (grad,) = torch.autograd.grad(y, x, g)
    return layer, x, y, grad, ref, ref_grad


@pytest.mark.parametrize("mode", ["int8", "int8-tensor"])
def test_int8_forward_and_input_gradient_match_fp32(mode):
    layer, x, y, grad, ref, ref_grad = _layer_and_grads(mode)
    assert y.shape == ref.shape and grad.shape == ref_grad.shape
    assert 0 < rel(y, ref) < INT8_REL  # an int8 product: close, not identical
    assert 0 < rel(grad, ref_grad) < INT8_REL
    with torch.no_grad():  # eval mode and inference: the fp32 product as written
        assert torch.equal(layer.eval()(x), ref)
    assert frozen_int8.remove(torch.nn.Sequential(layer)) == 1
    assert torch.equal(layer.train()(x), ref)


def test_per_row_gradient_keeps_small_rows():
    """A token whose gradient is 1,000x smaller than another's keeps its own gradient with one scale per row; one
    scale for the whole tensor rounds it to zero."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 96).requires_grad_(False)
    x = torch.randn(2, 64, requires_grad=True)
    g = torch.randn(2, 96) * torch.tensor([[1.0], [1e-3]])
    ref = g @ layer.weight
    grads = {}
    for mode in ("int8", "int8-tensor"):
        frozen_int8.use(torch.nn.Sequential(layer), mode)
        (grads[mode],) = torch.autograd.grad(layer.train()(x), x, g)
    assert rel(grads["int8"][1], ref[1]) < INT8_REL
    assert rel(grads["int8-tensor"][1], ref[1]) > 0.5


def test_int8_forward_with_fp32_input_gradient():
    _, _, y, grad, ref, ref_grad = _layer_and_grads("int8-fwd")
    assert 0 < rel(y, ref) < INT8_REL
    torch.testing.assert_close(grad, ref_grad)


def test_only_frozen_fp32_encoder_linears_are_patched(tiny_model_dir):
    model = _lora_model(tiny_model_dir)
    keys = set(model.state_dict())
    names = [name for name, _ in frozen_int8.frozen_linears(model)]
    # 2 layers x (query, key, value, attention output, intermediate, output); not the head nor the adapter
    assert len(names) == 12 and not any("classifier" in n or "lora_" in n or "pooler" in n for n in names)
    assert any(n.endswith("query.base_layer") for n in names)
    assert frozen_int8.use(model, "int8") == 12
    assert set(model.state_dict()) == keys  # nothing added to what is saved
    with pytest.raises(ValueError):
        frozen_int8.use(model, "int4")


def _lora_model(source, frozen="off"):
    task = get_task("classification")
    torch.manual_seed(0)
    model = task.build_model(str(source), META)
    model = models.attach_adapter(model, AdapterConfig(r=4, alpha=8, target_modules=TARGETS), "SEQ_CLS",
                                  task.modules_to_save(model))
    models.ready_for_training(model, False, "off", "cpu", frozen=frozen)
    return model


def _batch(source):
    tok = models.load_tokenizer(str(source))
    return tok(["a great movie", "it was terrible and long and boring", "meh"], padding=True, return_tensors="pt")


def test_a_training_step_runs_and_the_adapter_loads_in_a_plain_fp32_model(tiny_model_dir, tmp_path):
    from peft import PeftModel

    model = _lora_model(tiny_model_dir, frozen="int8")
    assert any(getattr(m, "fused_lora", False) for m in model.modules())  # the fused LoRA sum still runs
    batch = _batch(tiny_model_dir)
    lora_b = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):
        loss = model(**batch, labels=torch.tensor([0, 1, 2])).loss
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        opt.zero_grad()
    assert all(getattr(m, "_int8_packed", None) is not None for _, m in frozen_int8.frozen_linears(model))
    assert any(not torch.equal(p, lora_b[n]) for n, p in model.named_parameters() if n in lora_b)  # it learned
    model.eval()
    with torch.no_grad():
        trained = model(**batch).logits
    model.save_pretrained(str(tmp_path))
    assert (tmp_path / "adapter_model.safetensors").is_file()

    task = get_task("classification")
    base = task.build_model(str(tiny_model_dir), META)  # plain fp32, nothing patched
    loaded = PeftModel.from_pretrained(base, str(tmp_path)).eval()
    assert not any(hasattr(m, "frozen_int8") for m in loaded.modules())
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, trained)


@pytest.fixture
def cpu(monkeypatch):
    for key in isa.CAPS:
        monkeypatch.delenv(key, raising=False)

    def use(flags):
        monkeypatch.setattr(isa, "_cpuinfo", lambda: ("a CPU", flags))

    return use


def test_chosen_only_on_avx2_only_cpus(cpu, monkeypatch):
    from types import SimpleNamespace

    cpu(ZEN3)
    assert frozen_int8.default_mode("fp32", "cpu") == "int8"
    class BertForSequenceClassification(SimpleNamespace):
        pass

    class BertForTokenClassification(SimpleNamespace):
        pass

    bert = SimpleNamespace(model_type="bert", problem_type=None)
    assert frozen_int8.default_mode("fp32", "cpu", BertForSequenceClassification(config=bert)) == "int8"
    # measured on single-label classification only: the tagger and the multi-label head stay fp32
    assert frozen_int8.default_mode("fp32", "cpu", BertForTokenClassification(config=bert)) == "off"
    multi = SimpleNamespace(model_type="bert", problem_type="multi_label_classification")
    assert frozen_int8.default_mode("fp32", "cpu", BertForSequenceClassification(config=multi)) == "off"
    # a decoder LM (chat): its accuracy in int8 was not measured, it stays fp32
    assert frozen_int8.default_mode("fp32", "cpu", SimpleNamespace(config=SimpleNamespace(model_type="qwen2"))) == "off"
    assert frozen_int8.default_mode("fp32", "cuda") == "off"
    cpu(AMX)  # native bf16: keeps its bf16 frozen weights
    assert frozen_int8.default_mode("bf16", "cpu") == "off"
    assert frozen_int8.default_mode("fp32", "cpu") == "off"
    cpu(AMX - {"amx_bf16", "amx_tile", "amx_int8", "avx512_bf16"})  # AVX-512 without bf16: not measured, unchanged
    assert frozen_int8.default_mode("fp32", "cpu") == "off"
    cpu(AMX)
    for key, value in isa.EMULATE_AVX2.items():  # an AMX CPU capped at AVX2 counts as AVX2-only
        monkeypatch.setenv(key, value)
    assert frozen_int8.default_mode("fp32", "cpu") == "int8"


def test_the_training_path_picks_it_by_detection(cpu, tiny_model_dir):
    cpu(ZEN3)
    patched = [m for _, m in frozen_int8.frozen_linears(_lora_model(tiny_model_dir, frozen="auto"))]
    assert patched and all(m.frozen_int8 == "int8" for m in patched)
    cpu(AMX)
    model = _lora_model(tiny_model_dir, frozen="auto")
    assert not any(hasattr(m, "frozen_int8") for m in model.modules())


@pytest.mark.slow
def test_a_run_on_an_avx2_cpu_trains_in_int8_and_predicts_from_a_plain_adapter(cpu, tiny_model_dir, sample_csv,
                                                                              tmp_path, monkeypatch):
    """The product's own training (tuner.train.train) picks int8 on an AVX2-only CPU, drops the int8 copies before
    its evaluation, and saves an adapter that tuner.inference predicts with in fp32."""
    from tuner import runs
    from tuner.config import RunConfig
    from tuner.inference import get_predictor
    from tuner.train import train

    cpu(ZEN3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("TUNER_RUNS_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    chosen, real_use = [], frozen_int8.use
    monkeypatch.setattr(frozen_int8, "use", lambda model, mode: chosen.append(mode) or real_use(model, mode))
    removed, real_remove = [], frozen_int8.remove
    monkeypatch.setattr(frozen_int8, "remove", lambda model: removed.append(real_remove(model)) or removed[-1])
    cfg = RunConfig.from_dict({
        "name": "int8 frozen", "data": {"train_file": str(sample_csv), "validation_fraction": 0.3},
        "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4, "alpha": 8},
        "train": {"epochs": 1, "batch_size": 8, "evals": 0, "learning_rate": 1e-3, "precision": "auto"}})
    run = runs.create_run(cfg)
    train(cfg, run)
    assert "int8" in chosen and removed and removed[-1] > 0
    assert (run.adapter_dir / "adapter_model.safetensors").is_file()
    preds = get_predictor(run).predict(["a great movie", "awful"])
    assert len(preds) == 2
