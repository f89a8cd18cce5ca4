"""tuner.models: resolving names safely, precision choice, LoRA target detection on a tiny BERT."""

from __future__ import annotations

import pathlib
import socket

import pytest

from tuner import models
from tuner.config import AdapterConfig
from tuner.errors import ModelError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def no_disk(monkeypatch):
    """Any stat/is_dir/exists on a pathlib.Path fails the test."""

    def refuse(self, *a, **k):
        raise AssertionError(f"disk access for {self!s:.60}")

    for name in ("stat", "is_dir", "exists", "is_file", "glob", "iterdir", "resolve"):
        monkeypatch.setattr(pathlib.Path, name, refuse)


@pytest.fixture(scope="module")
def tiny_classifier(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    return models.load_pretrained(AutoModelForSequenceClassification, str(tiny_model_dir), num_labels=3)


# ---- resolve ---------------------------------------------------------------------------------------
def test_default_is_the_bundled_folder():
    bundled = models.bundled_model_dir()
    assert models.resolve("default") == str(bundled)
    assert models.resolve("") == str(bundled)
    assert models.resolve(models.DEFAULT_MODEL_LABEL) == str(bundled)
    assert (bundled / "config.json").is_file()
    assert any(bundled.glob("*.safetensors"))


def test_local_model_folder(tiny_model_dir):
    assert models.resolve(str(tiny_model_dir)) == str(tiny_model_dir.resolve())


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError) as info:
        models.resolve(str(tmp_path))
    assert "config.json" in str(info.value)
    assert str(tmp_path.parent) not in str(info.value)


def test_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickled weights")
    with pytest.raises(ModelError) as info:
        models.resolve(str(tmp_path))
    assert "safetensors" in str(info.value)


@pytest.mark.parametrize("name", [
    "https://huggingface.co/org/model", "http://evil.example/x", "file:///etc/passwd", "s3://bucket/model",
    "a" * 500, "org/" + "m" * 300,
])
def test_urls_and_long_names_are_refused_before_any_disk_or_network_access(name, no_network, no_disk):
    with pytest.raises(ModelError) as info:
        models.resolve(name)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["../../etc", "/root/x", "a b c", "~/nothing-here", "org/model/extra",
                                  "org//model", "-rf", "org/mo del", "..", "ab\\cd"])
def test_bad_names_are_refused_without_network(name, no_network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative names resolve inside an empty folder
    with pytest.raises(ModelError) as info:
        models.resolve(name)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert "/root" not in msg and str(tmp_path) not in msg


@pytest.mark.parametrize("name", ["bert-base-uncased", "org/model", "Org_1/model-v2.5"])
def test_hub_ids_pass_through_unchanged(name, tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)
    assert models.resolve(name) == name


def test_hub_load_without_network_is_one_sentence(tmp_path, monkeypatch):
    from transformers import AutoModelForSequenceClassification

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as info:
        models.load_pretrained(AutoModelForSequenceClassification, "some-org/does-not-exist-xyz")
    assert "could not load" in str(info.value).lower()
    with pytest.raises(ModelError):
        models.load_tokenizer("some-org/does-not-exist-xyz")


def test_broken_local_folder_is_one_sentence(tmp_path):
    from transformers import AutoModelForSequenceClassification

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "model.safetensors").write_bytes(b"not really safetensors")
    with pytest.raises(ModelError) as info:
        models.load_pretrained(AutoModelForSequenceClassification, str(tmp_path))
    assert tmp_path.name in str(info.value) and str(tmp_path.parent) not in str(info.value)


# ---- precision -------------------------------------------------------------------------------------
def test_pick_precision_explicit_choices():
    assert models.pick_precision("fp32") == "fp32"
    assert models.pick_precision("bf16") == "bf16"


def test_pick_precision_auto_and_fp16_on_cpu():
    import torch

    auto = models.pick_precision("auto")
    if torch.cuda.is_available():
        assert auto in ("bf16", "fp16")
    else:
        assert auto == ("bf16" if models.cpu_has_fast_bf16() else "fp32")
        with pytest.raises(ModelError):
            models.pick_precision("fp16")


# ---- adapters --------------------------------------------------------------------------------------
def test_tiny_model_folder_is_a_base_model(tiny_model_dir):
    import json

    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["hidden_size"] == 32 and cfg["num_hidden_layers"] == 2
    assert any(tiny_model_dir.glob("*.safetensors"))
    assert not list(tiny_model_dir.glob("*.bin"))
    assert (tiny_model_dir / "tokenizer.json").is_file() or (tiny_model_dir / "vocab.txt").is_file()


def test_detect_target_modules(tiny_classifier):
    found = models.detect_target_modules(tiny_classifier)
    # the leaf names, then each of the three 'dense' layers by its path inside a block
    assert found == ["query", "key", "value", "dense", "attention.output.dense", "intermediate.dense", "output.dense"]
    assert "classifier" not in found and "pooler" not in found


def test_target_module_paths_exclude_pooler_and_head(tiny_classifier):
    paths = models.target_module_paths(tiny_classifier, ["query", "key", "value", "dense"])
    assert len(paths) == 2 * 6  # per layer: q, k, v, attention output, intermediate, output
    assert all(".layer." in p for p in paths)
    assert not any("pooler" in p or "classifier" in p for p in paths)
    assert "bert.encoder.layer.0.attention.self.query" in paths


def test_target_module_paths_dotted_endings(tiny_classifier):
    paths = models.target_module_paths(tiny_classifier, ["query", "attention.output.dense"])
    assert len(paths) == 2 * 2  # per layer: q and the attention output, not the two MLP 'dense' layers
    assert "bert.encoder.layer.1.attention.output.dense" in paths
    assert not any(p.endswith("intermediate.dense") or p.endswith(".1.output.dense") for p in paths)
    mlp = models.target_module_paths(tiny_classifier, ["intermediate.dense", "output.dense"])
    assert sorted(mlp) == [f"bert.encoder.layer.{i}.{rel}" for i in (0, 1) for rel in ("intermediate.dense", "output.dense")]
    assert models.target_module_paths(tiny_classifier, ["self.query"]) == [f"bert.encoder.layer.{i}.attention.self.query" for i in (0, 1)]


def test_token_dropout_replaces_tokens_only_while_training(tiny_model_dir):
    import torch
    from transformers import AutoModelForTokenClassification

    tokenizer = models.load_tokenizer(str(tiny_model_dir))
    model = models.load_pretrained(AutoModelForTokenClassification, str(tiny_model_dir), num_labels=3)
    seen = []
    model.get_input_embeddings().register_forward_hook(lambda mod, args, out: seen.append(args[0].clone()))
    assert models.add_token_dropout(model, tokenizer, 0.0) is None
    models.add_token_dropout(model, tokenizer, 0.25)
    batch = tokenizer(["angela merkel met tim cook in berlin on a rainy tuesday morning"] * 64, return_tensors="pt")
    ids = batch["input_ids"]
    torch.manual_seed(0)
    model.train()
    model(**batch)
    model.eval()
    model(**batch)
    trained, evaluated = seen
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    assert torch.equal(trained[special], ids[special])  # [CLS] / [SEP] are never replaced
    replaced = trained[~special] != ids[~special]
    assert (trained[~special][replaced] == tokenizer.unk_token_id).all()
    assert 0.18 < replaced.float().mean().item() < 0.32  # about a quarter, fresh per batch
    assert not torch.equal(trained[0], trained[1])
    assert torch.equal(evaluated, ids)  # evaluation sees the text as it is


def test_target_module_paths_unknown_names(tiny_classifier):
    with pytest.raises(ModelError) as info:
        models.target_module_paths(tiny_classifier, ["q_proj", "v_proj"])
    assert "q_proj" in str(info.value) and "query" in str(info.value)


def test_attach_adapter_trains_only_lora_and_the_head(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    model = models.load_pretrained(AutoModelForSequenceClassification, str(tiny_model_dir), num_labels=3)
    peft_model = models.attach_adapter(model, AdapterConfig(r=4), "SEQ_CLS", ["classifier", "pooler"])
    trainable, total = models.count_parameters(peft_model)
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert all("lora_" in n or "classifier" in n or "pooler" in n for n in names), names
    assert any("lora_A" in n for n in names) and any("classifier" in n for n in names)
    assert not any("word_embeddings" in n for n in names)
    assert 0 < trainable < total / 10
    # LoRA A/B for 12 projections (r=4) + trainable copies of the pooler (32x32+32) and head (3x32+3).
    lora = sum(4 * (m.in_features + m.out_features) for n, m in model.named_modules()
               if n.endswith(("query", "key", "value", "dense")) and ".layer." in n and hasattr(m, "in_features"))
    assert trainable == lora + (32 * 32 + 32) + (3 * 32 + 3)


def test_compile_blocks_only_where_it_pays_and_kv_cache_switch(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from tuner import tiny_models

    model = AutoModelForCausalLM.from_pretrained(str(tiny_models.build("llama")))
    blocks = models.repeated_blocks(model)
    assert blocks is model.model.layers and len(blocks) == 2
    assert models.compile_blocks(model, "off", "cuda") == 0
    assert models.compile_blocks(model, "auto", "cpu") == 0  # auto = on a GPU only
    assert all(b._compiled_call_impl is None for b in blocks)
    assert models.set_kv_cache(model, False) is True and model.config.use_cache is False
    assert models.set_kv_cache(model, None) is False and model.config.use_cache is False  # None leaves it
    models.set_kv_cache(model, True)
    assert models.set_kv_cache(torch.nn.Linear(2, 2), False) is None  # a model with no cache setting


@pytest.mark.skipif(not __import__("shutil").which("cc"), reason="torch.compile on the CPU needs a C compiler")
def test_compiled_blocks_give_the_eager_answers_and_uncompile():
    import torch
    from transformers import AutoModelForCausalLM

    from tuner import tiny_models

    model = AutoModelForCausalLM.from_pretrained(str(tiny_models.build("llama")))
    models.set_kv_cache(model, False)
    ids = torch.randint(0, tiny_models.VOCAB_SIZE, (2, 24), generator=torch.Generator().manual_seed(0))
    eager = model(input_ids=ids).logits
    assert models.compile_blocks(model, "on", "cpu") == 2
    assert all(b._compiled_call_impl is not None for b in model.model.layers)
    compiled = model(input_ids=ids).logits
    assert torch.allclose(compiled, eager, atol=1e-4)
    assert list(model.state_dict()) == list(AutoModelForCausalLM.from_config(model.config).state_dict())  # same keys
    models.uncompile_blocks(model)
    assert all(b._compiled_call_impl is None for b in model.model.layers)


def test_meta_device_stays_in_its_own_thread():
    """The Train tab reads a model's layers on the meta device while another handler (the time estimate) loads
    real weights: the meta context must not leak into that thread (accelerate's init_empty_weights did)."""
    import threading

    import torch

    from tuner.models import meta_device

    stop = threading.Event()

    def build_empty():
        while not stop.is_set():
            with meta_device():
                assert torch.nn.Linear(64, 64).weight.is_meta

    worker = threading.Thread(target=build_empty)
    worker.start()
    try:
        real = [torch.nn.Linear(64, 64) for _ in range(300)]
    finally:
        stop.set()
        worker.join()
    assert not any(layer.weight.is_meta for layer in real)
