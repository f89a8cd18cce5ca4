"""8-bit and 4-bit base weights through bitsandbytes: a short real LoRA/QLoRA training per task on the CPU
where the installed bitsandbytes runs there (0.50 does), else the one-sentence refusal."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from test_methods import chat_rows
from test_ner_e2e import synthetic_conll
from tuner import quantize, runs
from tuner import train as train_mod
from tuner.config import RunConfig, TrainConfig
from tuner.errors import ModelError
from tuner.inference import Predictor


def test_kwargs_carry_the_settings():
    kw = quantize.quantization_kwargs(TrainConfig(quantization="none"), "fp32", "cpu")
    assert kw == {}
    if not quantize.can_run("4bit", "cpu")[0]:
        pytest.skip("bitsandbytes cannot run 4-bit on this CPU")
    cfg = TrainConfig(quantization="4bit", quant_type="fp4", double_quant=False, compute_dtype="bf16")
    bnb = quantize.quantization_kwargs(cfg, "fp32", "cpu")["quantization_config"]
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "fp4" and not bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16 and "classifier" in bnb.llm_int8_skip_modules


def test_unavailable_backend_is_one_sentence(monkeypatch):
    quantize.can_run.cache_clear()
    monkeypatch.setattr(quantize, "bitsandbytes_version", lambda: None)
    try:
        with pytest.raises(ModelError) as err:
            quantize.check_available("8bit", "cpu")
    finally:
        quantize.can_run.cache_clear()
    assert "cannot run on the CPU" in str(err.value) and "set quantization to none" in str(err.value)


class LayerKinds(TrainerCallback):
    def __init__(self):
        self.kinds = set()

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.kinds = {type(m).__name__ for m in model.modules()}


CASES = [("classification", "8bit"), ("classification", "4bit"), ("ner", "4bit"), ("ner", "8bit"),
         ("chat", "4bit"), ("chat", "8bit")]


@pytest.fixture(scope="module")
def bert64_dir(tmp_path_factory):
    """A tiny BERT of width 64 (bitsandbytes' 4-bit blocks are 64 values: width-32 layers are too narrow)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tuner.models import bundled_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=128, max_position_embeddings=128))
    out = tmp_path_factory.mktemp("bert64")
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("task,mode", CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_quantized_lora_trains_and_reloads(task, mode, tmp_path, bert64_dir, runs_dir, sample_csv_factory,
                                           monkeypatch):
    ok, why = quantize.can_run(mode, "cpu")
    if not ok:
        pytest.skip(f"bitsandbytes cannot run {mode} on this CPU: {why}")
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    files = {"classification": lambda: sample_csv_factory(tmp_path / "t.csv", per_label=10),
             "ner": lambda: (tmp_path / "t.conll").write_text(synthetic_conll(24, 0)) and tmp_path / "t.conll",
             "chat": lambda: (tmp_path / "c.jsonl").write_text(chat_rows()) and tmp_path / "c.jsonl"}
    cfg = RunConfig.from_dict({
        "task": task, "data": {"train_file": str(files[task]()), "validation_fraction": 0.2},
        "model": {"name": "tiny:llama" if task == "chat" else str(bert64_dir), "max_length": 128 if task == "chat" else 48},
        "adapter": {"r": 4, "alpha": 8},
        "train": {"epochs": 1, "max_examples": 12, "batch_size": 4, "evals": 0, "learning_rate": 1e-2,
                  "precision": "fp32", "quantization": mode},
        "chat": {"eval_samples": 0},
    })
    run = runs.create_run(cfg)
    kinds = LayerKinds()
    result = train_mod.train(RunConfig.load(run.config_path), run, callbacks=[kinds])
    assert result["steps"] == 3
    assert ("Linear8bitLt" if mode == "8bit" else "Linear4bit") in kinds.kinds  # the base really was quantized
    report = run.metrics()
    assert report["quantization"] == mode and "evaluation_error" not in report, report
    assert 0 < report["trainable_params"] < report["total_params"]
    run.set_status(state="completed")
    predictor = Predictor(run)  # reloads on an unquantized base: the adapter is ordinary LoRA
    assert predictor.model is not None
    if task == "classification":
        out = predictor.predict(["my card was charged twice"])[0]
        assert abs(sum(out.values()) - 1.0) < 1e-4
