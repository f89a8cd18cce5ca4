"""The chat task's hooks on real data and tiny models, in-process: inspect, splits, encode, evaluate, metrics, CLI text."""

from __future__ import annotations

import math
import types

import pytest

from tuner import tiny_models
from tuner.config import RunConfig
from tuner.errors import DataError
from tuner.tasks import get_task
from tuner.tasks.chat import format as cf

BITEXT = "bitext_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
TASK = get_task("chat")


def cfg(**sections) -> RunConfig:
    return RunConfig.from_dict({"task": "chat", **sections})


@pytest.fixture(scope="module")
def bitext_df():
    from conftest import SHARED_DATASETS

    path = SHARED_DATASETS / BITEXT
    if not path.is_file():
        pytest.skip("the shared datasets folder ../shared/datasets is not present")
    return TASK.read(path).df


def test_task_shape():
    assert TASK.name == "chat" and TASK.demo == "chat" and TASK.peft_task_type == "CAUSAL_LM"
    assert TASK.selection_metric == "loss" and TASK.compute_metrics({}) is None
    assert set(TASK.column_roles) == {"text_columns", "label_column"}


def test_inspect_bitext(bitext_df):
    assert TASK.propose(bitext_df) == {"text_columns": ["instruction"], "label_column": "response", "shape": "pairs"}
    info = TASK.inspect(bitext_df, cfg(model={"max_length": 128}))
    assert info["rows"] == 4514 and info["shape"] == "pairs"
    assert info["text_columns"] == ["instruction"] and info["label_column"] == "response"
    assert info["label_counts"] == {"1 turn": 4514}
    for key in ("length_chars", "length_tokens_approx"):
        assert set(info[key]) == {"min", "median", "p95", "max", "mean"}
        assert info[key]["min"] <= info[key]["median"] <= info[key]["p95"] <= info[key]["max"]
    # bitext replies run to ~100 words: most conversations exceed 128 tokens, and the page says so.
    assert info["truncated_approx"] > 3000
    assert any("longer than the max length of 128 tokens" in w for w in info["warnings"])


def test_inspect_the_bundled_sample():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "assets" / "support_chat.jsonl"
    info = TASK.inspect(TASK.read(path).df, cfg(model={"max_length": 512}))
    assert info["shape"] == "messages" and info["rows"] == 38
    assert info["label_counts"] == {"1 turn": 30, "2 turns": 6, "3 turns": 2}
    assert info["truncated_approx"] == 0


def test_load_splits_and_system_prompt(bitext_df, shared_datasets):
    c = cfg(data={"train_file": str(shared_datasets / BITEXT), "max_train_rows": 200, "validation_fraction": 0.1},
            chat={"system_prompt": "You are ACME support."})
    splits = TASK.load_splits(c)
    assert len(splits.train["conversations"]) == 180 and len(splits.validation["conversations"]) == 20
    assert all(conv[0] == {"role": "system", "content": "You are ACME support."} for conv in splits.train["conversations"])
    assert splits.meta["shape"] == "pairs" and splits.meta["system_prompt"] == "You are ACME support."
    assert splits.train["packing"] is False and splits.validation["packing"] is False


def test_validation_file_with_its_own_shape(tmp_path):
    import json

    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                         {"role": "assistant", "content": f"a{i}"}]}) for i in range(30)))
    val = tmp_path / "val.json"
    val.write_text(json.dumps([{"messages": [{"role": "user", "content": "vq"}, {"role": "assistant", "content": "va"}]}]))
    splits = TASK.load_splits(cfg(data={"train_file": str(train), "validation_file": str(val)}))
    assert len(splits.train["conversations"]) == 30
    assert splits.validation["conversations"] == [[{"role": "user", "content": "vq"}, {"role": "assistant", "content": "va"}]]


def make_split(n=12, reply="ok " * 40, **extra):
    convs = [[{"role": "user", "content": f"question number {i}"}, {"role": "assistant", "content": reply}] for i in range(n)]
    return {"conversations": convs, "template": "auto", "name": "training", "_meta": {}, "_warnings": [], **extra}


def test_encode_records_template_truncation_and_packing():
    tok = tiny_models.make_tokenizer("gpt2")
    split = make_split()
    ds = TASK.encode(split, tok, 64)
    assert tok.pad_token == "<|endoftext|>"  # set for a tokenizer that had none
    assert split["_meta"]["template"] == "chatml"  # GPT-2 has no template of its own
    assert split["stats"]["truncated"] == 12 and split["stats"]["dropped"] == 0
    assert split["_warnings"] == ["12 of 12 training conversations are longer than 64 tokens and were truncated."]
    assert set(ds.column_names) == {"input_ids", "attention_mask", "labels"} and len(ds) == 12
    assert all(len(x) == 64 for x in ds["input_ids"])

    packed = make_split(reply="short", packing=True)
    pds = TASK.encode(packed, tok, 256)
    assert set(pds.column_names) == {"input_ids", "labels", "position_ids"}
    assert len(pds) < 12 and sum(len(x) for x in pds["input_ids"]) == packed["stats"]["tokens"]


def test_encode_refuses_when_max_length_cuts_every_reply():
    tok = tiny_models.make_tokenizer("qwen2")
    split = make_split(n=3)
    split["conversations"] = [[{"role": "user", "content": "x" * 200}, {"role": "assistant", "content": "y"}]] * 3
    with pytest.raises(DataError, match="loses all of its reply tokens at the max length of 32 tokens; raise model.max_length"):
        TASK.encode(split, tok, 32)


def test_evaluate_compares_with_the_base_model_through_disable_adapter():
    """The report's base-model loss is the loss of the model without its adapter; the finetuned one differs."""
    import torch

    from tuner import models
    from tuner.config import AdapterConfig
    from tuner.tasks.common import Splits

    tok = tiny_models.make_tokenizer("llama")
    base = tiny_models.make_model("llama")
    val = make_split(n=4, reply="Your parcel is on its way.")
    val["name"] = "validation"
    meta = {"template": "auto", "shape": "pairs"}
    val["_meta"] = meta
    val_ds = TASK.encode(val, tok, 96)
    collate = TASK.collator(tok)
    heldout_loss = __import__("tuner.tasks.chat.metrics", fromlist=["heldout_loss"]).heldout_loss
    plain_loss, n = heldout_loss(base, val_ds, collate, 4)
    model = models.attach_adapter(base, AdapterConfig(r=4, alpha=8), "CAUSAL_LM", [])
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)  # an adapter that changes the answers
    trainer = types.SimpleNamespace(model=model, data_collator=collate)
    splits = Splits(train={"stats": {}}, validation=val, meta=meta)
    c = cfg(chat={"eval_samples": 2, "max_new_tokens": 8}, train={"eval_batch_size": 4}, model={"max_length": 96})
    report = TASK.evaluate(trainer, val_ds, splits, c)
    assert report["task"] == "chat" and report["template"] == "model" and report["n_examples"] == 4
    assert report["eval_tokens"] == n > 0
    assert report["baseline"]["eval_loss"] == pytest.approx(plain_loss, rel=1e-5)
    assert report["eval_loss"] != pytest.approx(plain_loss, rel=1e-3)
    assert report["perplexity"] == pytest.approx(math.exp(report["eval_loss"]), rel=1e-6)
    assert report["n_generated"] == 2 and len(report["samples"]) == 2
    for side in (report, report["baseline"]):
        assert 0.0 <= side["rouge_l"] <= 1.0 and 0.0 <= side["bleu"] <= 1.0
    assert {"prompt", "reference", "finetuned", "base"} <= set(report["samples"][0])
    assert report["samples"][0]["reference"] == "Your parcel is on its way."


def test_generate_replies_stop_at_the_end_of_turn():
    from tuner.tasks.chat.generate import cut_at_stop, generate_replies, stop_ids_and_strings

    tok = tiny_models.make_tokenizer("qwen2")
    ids, strings = stop_ids_and_strings("chatml", tok)
    assert tok.convert_tokens_to_ids("<|im_end|>") in ids and "<|im_end|>" in strings
    assert cut_at_stop("Hello there\nUser: next", ["\nUser:"]) == "Hello there"
    model = tiny_models.make_model("qwen2")
    out = generate_replies(model, tok, [[{"role": "user", "content": "hi"}]] * 2, "chatml", max_new_tokens=12, max_input=64)
    assert len(out) == 2 and out[0] == out[1]  # greedy: the same prompt gives the same reply
    assert "<|im_end|>" not in out[0]


# ---- local metric modules ----------------------------------------------------------------------------
def test_rouge_l_and_bleu_values():
    from tuner import metrics

    rouge = metrics.load("rouge")
    # LCS("the cat sat on the mat", "the cat is on the mat") = 5 words: P = R = 5/6.
    assert rouge.compute(predictions=["the cat sat on the mat"], references=["The cat is on the mat."])["rougeL"] == pytest.approx(5 / 6)
    assert rouge.compute(predictions=["a b"], references=["c d"])["rougeL"] == 0.0
    bleu = metrics.load("bleu")
    same = bleu.compute(predictions=["the cat sat on the mat ."], references=[["the cat sat on the mat ."]], smooth=False)
    assert same["bleu"] == pytest.approx(1.0)
    # Brevity penalty: half the reference length -> exp(1 - 2).
    short = bleu.compute(predictions=["the cat sat"], references=[["the cat sat on the mat"]], smooth=False)
    assert short["brevity_penalty"] == pytest.approx(math.exp(-1.0))
    # 7-token candidate, one word differs: matches 6/7, 4/6, 2/5, 1/4, all +1 with smoothing.
    smoothed = bleu.compute(predictions=["the cat sat on the mat ."], references=["the cat is on the mat ."])
    expected = math.exp(sum(math.log((m + 1) / (c + 1)) for m, c in [(6, 7), (4, 6), (2, 5), (1, 4)]) / 4)
    assert smoothed["bleu"] == pytest.approx(expected)


def test_cli_summary_for_chat_reports():
    from tuner.cli import summarize

    text = summarize({"task": "chat", "eval_loss": 1.5, "perplexity": 4.48, "rouge_l": 0.3, "bleu": 0.1,
                      "baseline": {"eval_loss": 3.0, "perplexity": 20.1, "rouge_l": 0.1, "bleu": 0.01},
                      "n_examples": 10, "eval_tokens": 900, "n_generated": 8, "template": "chatml"})
    assert "finetuned" in text and "base model" in text
    assert "1.5000" in text and "3.0000" in text and "8 answered by both models" in text


def test_chat_config_fields_have_help_and_ranges():
    from tuner.config import ConfigError, field_meta

    for name in ("shape", "template", "system_prompt", "packing", "eval_samples", "max_new_tokens"):
        assert len(field_meta(f"chat.{name}")["help"]) > 20
    assert field_meta("chat.template")["choices"] == list(cf.TEMPLATE_CHOICES)
    with pytest.raises(ConfigError, match="chat.template"):
        cfg(chat={"template": "vicuna"})
    with pytest.raises(ConfigError, match="chat.max_new_tokens"):
        cfg(chat={"max_new_tokens": 0})


# ---- models ---------------------------------------------------------------------------------------------
FAMILIES = {
    "LlamaConfig": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "Qwen2Config": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "MistralConfig": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "GPT2Config": ["c_attn", "c_proj", "c_fc", "attn.c_proj", "mlp.c_proj"],  # c_proj twice: both paths offered
    "PhiConfig": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "Phi3Config": ["o_proj", "qkv_proj", "gate_up_proj", "down_proj"],
    "GemmaConfig": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_lora_targets_per_architecture(family):
    """Every attention and MLP projection of each family's decoder blocks, never the LM head (meta device)."""
    import transformers
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    from tuner.models import detect_target_modules

    config_cls = getattr(transformers, family)
    small = {"n_layer": 2, "n_embd": 64, "n_head": 2} if family == "GPT2Config" else {
        "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 2,
        "num_key_value_heads": 2}
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config_cls(vocab_size=128, pad_token_id=0, **small))
    assert detect_target_modules(model) == FAMILIES[family]


@pytest.mark.parametrize("arch", tiny_models.ARCHITECTURES)
def test_a_training_step_on_each_tiny_model(arch):
    """LoRA attaches to each tiny architecture and a packed batch trains only the adapter."""
    import torch

    from tuner import models
    from tuner.config import AdapterConfig

    tok = tiny_models.make_tokenizer(arch)
    model = models.attach_adapter(tiny_models.make_model(arch), AdapterConfig(r=4, alpha=8), TASK.peft_task_type,
                                  TASK.modules_to_save(None))
    split = make_split(n=6, reply="Thanks, your refund is on its way.", packing=True)
    ds = TASK.encode(split, tok, 256)
    batch = TASK.collator(tok)([ds[i] for i in range(len(ds))])
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads and all("lora_" in n for n in grads)
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)  # B starts at 0: A gets none yet


def test_a_hub_model_without_network_is_one_sentence():
    from tuner.errors import ModelError

    with pytest.raises(ModelError) as info:
        TASK.build_model("HuggingFaceTB/SmolLM2-135M-Instruct", {})
    msg = str(info.value)
    assert msg.startswith("Could not load 'HuggingFaceTB/SmolLM2-135M-Instruct' from the Hugging Face Hub") and "\n" not in msg
