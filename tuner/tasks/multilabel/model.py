"""The multi-label model and its inputs: a sequence-classification head with one output per label trained with
binary cross-entropy (transformers' `problem_type="multi_label_classification"`), tokenized rows whose `labels` are
float32 multi-hot vectors (4 bytes per label per row, in Arrow), and the collator that pads them."""

from __future__ import annotations

from ..common import PadCollator, map_batches


def build_model(source: str, meta: dict, dtype=None, attn_implementation: str | None = None,
                first_token_only: bool = True, **config_overrides):
    """The base model with a new head of one sigmoid output per label. `first_token_only`: the last encoder layer
    computes only the [CLS] position the head reads, where the model is a known [CLS] classifier
    (tuner/cpu/cls_layer.py)."""
    from transformers import AutoModelForSequenceClassification

    from ...cpu.cls_layer import first_token_only as trim_last_layer
    from ...models import load_pretrained

    names = meta["labels"]
    kwargs = {"dtype": dtype} if dtype is not None else {}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    kwargs.update(config_overrides)
    model = load_pretrained(
        AutoModelForSequenceClassification, source, num_labels=len(names), problem_type="multi_label_classification",
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}, **kwargs,
    )
    set_prior_bias(model, meta.get("label_priors"))
    if first_token_only:
        trim_last_layer(model)
    return model


def set_prior_bias(model, priors) -> bool:
    """Start the new head where the data is: each output's bias at the log-odds of its label's share of the training
    rows. A head started at 0 (every label at 0.5) spends its first steps pushing every output down, and that strong
    shared gradient pulls the trained pooler and adapter with it into a place where the text no longer matters:
    MiniLM + LoRA on 38 support labels stayed at the label priors (loss 0.198) for 60 steps, where this start went
    on to 0.035 (1,600 rows, batch 32, learning rate 1e-3). A trained adapter loads its own bias over this one."""
    import math

    import torch

    if not priors:
        return False
    heads = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.out_features == len(priors)
             and name.split(".")[0] in ("classifier", "score")]
    bias = heads[-1].bias if heads else None
    if bias is None or bias.is_meta:
        return False
    odds = [math.log(p / (1 - p)) for p in (min(max(float(p), 1e-4), 1 - 1e-4) for p in priors)]
    with torch.no_grad():
        bias.copy_(torch.tensor(odds, dtype=bias.dtype, device=bias.device))
    return True


def modules_to_save(model) -> list[str]:
    """The new head is trained in full; so is the pooler where one exists (as for single-label classification)."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    return [m for m in ("classifier", "score", "pooler") if m in names]


def encode(split: dict, tokenizer, max_length: int):
    """input_ids / attention_mask (/ token_type_ids) and float32 multi-hot `labels` in an Arrow table, ENCODE_BATCH
    rows at a time (tuner.tasks.common.map_batches). `split`: {"text", "labels" (label ids per row),
    "n_labels"}."""
    import numpy as np
    from datasets import Dataset

    if not split["text"]:
        return Dataset.from_dict({"input_ids": [], "attention_mask": [], "labels": []})
    n_labels = int(split.get("n_labels") or 1 + max(i for ids in split["labels"] for i in ids))

    def tokenize(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        hot = np.zeros((len(batch["text"]), n_labels), dtype=np.float32)
        for row, ids in enumerate(batch["label_ids"]):
            hot[row, ids] = 1.0
        out = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        out["labels"] = hot
        return out

    rows = Dataset.from_dict({"text": split["text"], "label_ids": split["labels"]})
    return map_batches(rows, tokenize, ["text", "label_ids"])


class MultiHotCollator(PadCollator):
    """PadCollator's padded token columns, with the multi-hot labels as one float32 tensor (what binary
    cross-entropy takes)."""

    def __call__(self, features: list[dict]) -> dict:
        import torch

        has_labels = "labels" in features[0]
        batch = super().__call__([{k: v for k, v in f.items() if k != "labels"} for f in features] if has_labels
                                 else features)
        if has_labels:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float32)
        return batch


def collator(tokenizer):
    import torch

    # Multiples of 8 feed GPU tensor cores; on a CPU every padded position is paid for (as classification does).
    return MultiHotCollator(tokenizer, 8 if torch.cuda.is_available() else 1)


class MultiLabelModel:
    """build_model, modules_to_save, encode, collator (tuner.tasks.base.Task)."""

    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None,
                    first_token_only: bool = True, **config_overrides):
        return build_model(source, meta, dtype, attn_implementation, first_token_only, **config_overrides)

    def modules_to_save(self, model) -> list[str]:
        return modules_to_save(model)

    def encode(self, split: dict, tokenizer, max_length: int):
        return encode(split, tokenizer, max_length)

    def collator(self, tokenizer):
        return collator(tokenizer)
