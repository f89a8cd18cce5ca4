"""The classifier's model: the base model with a new sequence-classification head, its tokenized rows and batches."""

from __future__ import annotations

from ..common import PadCollator, map_batches


class ClassificationModel:
    """build_model, modules_to_save, encode, collator (tuner.tasks.base.Task)."""

    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None,
                    first_token_only: bool = True, **config_overrides):
        """The base model with a new classification head. `first_token_only`: the last encoder layer computes only
        the position the head reads, where the model is a known [CLS] classifier (tuner/cpu/cls_layer.py)."""
        from transformers import AutoModelForSequenceClassification

        from ...cpu.cls_layer import first_token_only as trim_last_layer
        from ...models import load_pretrained

        names = meta["labels"]
        kwargs = {"dtype": dtype} if dtype is not None else {}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        kwargs.update(config_overrides)
        model = load_pretrained(
            AutoModelForSequenceClassification, source, num_labels=len(names),
            id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}, **kwargs,
        )
        if first_token_only:
            trim_last_layer(model)
        return model

    def modules_to_save(self, model) -> list[str]:
        """The new head is trained in full; so is the pooler where one exists (cheap, and it feeds the head)."""
        names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        return [m for m in ("classifier", "score", "pooler") if m in names]

    def encode(self, split: dict, tokenizer, max_length: int):
        """input_ids / attention_mask (/ token_type_ids) / labels in an Arrow table, tokenized ENCODE_BATCH rows at
        a time (`map_batches`): int32 ids and int8 masks, about 6 bytes a token, where one call on every row held
        the tokenizer's Python lists and Encoding objects, over 100 bytes a token (12 GB for 1,000,000 rows of
        ~30 tokens; docs/performance.md)."""
        from datasets import Dataset

        if not split["text"]:
            return Dataset.from_dict({"input_ids": [], "attention_mask": [], "labels": []})

        def tokenize(batch):
            enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
            return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}

        return map_batches(Dataset.from_dict({"text": split["text"], "labels": split["label"]}), tokenize, ["text"])

    def collator(self, tokenizer):
        import torch

        # Multiples of 8 feed GPU tensor cores; on a CPU every padded position is paid for (81% -> 98% real
        # tokens on SST-2 batches, ~1.2x faster steps: bench/train_throughput.py).
        return PadCollator(tokenizer, 8 if torch.cuda.is_available() else 1)
