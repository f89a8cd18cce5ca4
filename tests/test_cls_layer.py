"""The last encoder layer computed for the first position only (tuner/cpu/cls_layer.py): same answers, less work."""

import pytest
import torch

from tuner import models
from tuner.config import AdapterConfig
from tuner.cpu import cls_layer
from tuner.cpu.throughput import flops_per_token
from tuner.tasks import get_task

TEXTS = ["a great movie", "it was terrible and long and boring, honestly the worst film of the year", "meh"]
META = {"labels": ["neg", "neu", "pos"]}


def _pair(source, attn):
    task = get_task("classification")
    torch.manual_seed(0)
    full = task.build_model(str(source), META, attn_implementation=attn, first_token_only=False)
    trimmed = task.build_model(str(source), META, attn_implementation=attn)
    trimmed.load_state_dict(full.state_dict())  # the new heads start from different random weights
    return full, trimmed


def _last_mlp_inputs(model) -> list:
    shapes = []
    layer = next(m for n, m in model.named_modules() if n.endswith("encoder.layer.1.intermediate.dense"))
    layer.register_forward_hook(lambda mod, args, out: shapes.append(tuple(args[0].shape)))
    return shapes


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_same_logits_and_gradients_with_less_work(tiny_model_dir, attn):
    full, trimmed = _pair(tiny_model_dir, attn)
    tok = models.load_tokenizer(str(tiny_model_dir))
    batch = tok(TEXTS, padding=True, return_tensors="pt")  # padded: the mask must reach the first query's row
    seen = _last_mlp_inputs(trimmed)
    adapter = AdapterConfig(r=4, alpha=8, target_modules=["query", "value", "intermediate.dense"])
    heads = get_task("classification").modules_to_save(full)
    full = models.attach_adapter(full, adapter, "SEQ_CLS", heads)
    trimmed = models.attach_adapter(trimmed, adapter, "SEQ_CLS", heads)
    with torch.no_grad():  # LoRA's B starts at zero: give it weights so the adapter changes the answer
        for name, p in full.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    trimmed.load_state_dict(full.state_dict())
    full.eval(), trimmed.eval()
    labels = torch.tensor([0, 1, 2])
    out_full, out_trim = full(**batch, labels=labels), trimmed(**batch, labels=labels)
    torch.testing.assert_close(out_trim.logits, out_full.logits, atol=1e-5, rtol=1e-5)
    out_full.loss.backward()
    out_trim.loss.backward()
    grads = {n: p.grad for n, p in trimmed.named_parameters() if p.grad is not None}
    assert len(grads) > 10
    for name, p in full.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(grads[name], p.grad, atol=1e-5, rtol=1e-4)
    # the last layer's MLP saw one position per text, not the padded width
    assert seen and all(s[:2] == (3, 1) for s in seen), seen
    assert batch["input_ids"].shape[1] > 10


def test_other_heads_and_layouts_are_left_alone(tiny_model_dir):
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
    )

    gpt2 = GPT2ForSequenceClassification(GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=300))  # reads the last token
    distil = DistilBertForSequenceClassification(DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64))
    assert not cls_layer.first_token_only(gpt2)
    assert not cls_layer.first_token_only(distil)
    assert cls_layer.first_token_layers(gpt2) == []
    ner = get_task("ner").build_model(str(tiny_model_dir), {"labels": ["O", "B-PER", "I-PER"]})
    assert cls_layer.first_token_layers(ner) == []  # a tagger reads every position
    _, trimmed = _pair(tiny_model_dir, "eager")
    assert cls_layer.first_token_layers(trimmed) == ["bert.encoder.layer.1."]


def test_prefix_tuning_keeps_the_full_layer(tiny_model_dir):
    """Prefix tuning feeds the layers cached virtual keys: the patched layer runs as written."""
    from peft import PrefixTuningConfig, get_peft_model

    full, trimmed = _pair(tiny_model_dir, "eager")
    tok = models.load_tokenizer(str(tiny_model_dir))
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    cfg = PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=4)
    torch.manual_seed(1)
    full = get_peft_model(full, cfg).eval()
    torch.manual_seed(1)
    trimmed = get_peft_model(trimmed, cfg).eval()
    with torch.no_grad():
        torch.testing.assert_close(trimmed(**batch).logits, full(**batch).logits, atol=1e-5, rtol=1e-5)


def test_flops_count_the_work_done(tiny_model_dir):
    full, trimmed = _pair(tiny_model_dir, "eager")
    for p in [*full.parameters(), *trimmed.parameters()]:
        p.requires_grad_(False)  # frozen: 4 FLOPs per weight and token (forward + input gradient)
    seq = 20.0
    per_full, per_trim = flops_per_token(full, seq), flops_per_token(trimmed, seq)
    # Tiny BERT (hidden 32, MLP 64, 2 layers): per layer q/k/v/o 4 x 32 x 32 + MLP 2 x 32 x 64 = 8,192 weights.
    # The trimmed layer keeps k and v (2,048) for every token, the other 6,144 for 1 token in 20.
    layer_weights, kept = 8192, 2048
    skipped = 4 * (layer_weights - kept) * (1 - 1 / seq) + 2 * 4 * 32 * seq * (1 - 1 / seq)
    assert per_full - per_trim == pytest.approx(skipped, rel=1e-6)


def test_first_position_projections_are_plain_matmuls(tiny_model_dir):
    """The [CLS] slice is made contiguous: a strided [batch, 1, hidden] input sends F.linear through matmul's
    batched path for a frozen weight, which copies that weight once per row (aten::expand + bmm): 9 MB per
    projection at batch 32."""
    from torch.profiler import profile

    _, trimmed = _pair(tiny_model_dir, "eager")
    tok = models.load_tokenizer(str(tiny_model_dir))
    batch = tok(TEXTS * 4, padding=True, return_tensors="pt")
    trimmed.eval().requires_grad_(False)  # frozen weights, as in training with an adapter and in prediction
    with torch.no_grad(), profile(record_shapes=True) as prof:
        trimmed(**batch)
    hidden = trimmed.config.hidden_size
    weight_copies = [e for e in prof.key_averages(group_by_input_shape=True)
                     if e.key == "aten::bmm" and any(len(s) == 3 and s[1:] == [hidden, hidden] for s in e.input_shapes)]
    assert not weight_copies, [(e.key, e.input_shapes) for e in weight_copies]
