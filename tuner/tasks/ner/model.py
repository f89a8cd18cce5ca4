"""The tagger's model: a token-classification head (plus the case feature's token types), sub-word rows whose
first sub-token of each word carries the word's tag, and padded batches."""

from __future__ import annotations

from ..common import map_batches
from .tagging import CASE_TYPES, add_case_rows, case_ids, check_fast, first_subtoken_labels


class NerModel:
    """build_model, modules_to_save, encode, collator (tuner.tasks.base.Task)."""

    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None, **config_overrides):
        from transformers import AutoModelForTokenClassification

        from ...models import load_pretrained

        names = meta["labels"]
        kwargs = {"dtype": dtype} if dtype is not None else {}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        kwargs.update(config_overrides)  # e.g. dropout probabilities set to 0 by train.py
        model = load_pretrained(
            AutoModelForTokenClassification, source, num_labels=len(names),
            id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}, **kwargs,
        )
        if meta.get("case_feature"):
            add_case_rows(model)
        return model

    def modules_to_save(self, model) -> list[str]:
        """The new head is trained in full, and so is the token-type embedding that carries the case feature
        (CASE_TYPES x hidden values) when the model has one."""
        names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        keep = [m for m in ("classifier", "score") if m in names]
        if getattr(model.config, "type_vocab_size", 0) >= CASE_TYPES and "token_type_embeddings" in names:
            keep.append("token_type_embeddings")
        return keep

    def encode(self, split: dict, tokenizer, max_length: int):
        """Sub-word tokens; the first sub-token of each word gets the word's tag id, the rest -100. Tokenized
        ENCODE_BATCH sentences at a time into an Arrow table (tuner.tasks.common.map_batches)."""
        from datasets import Dataset

        check_fast(tokenizer)
        if not split["tokens"]:
            return Dataset.from_dict({"input_ids": [], "attention_mask": [], "labels": []})

        def tokenize(batch):
            enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            case = split.get("case_feature") and "token_type_ids" in enc
            labels, types = [], []
            for i, tags in enumerate(batch["tags"]):
                word_ids = enc.word_ids(i)
                labels.append(first_subtoken_labels(word_ids, tags))
                if case:
                    types.append(case_ids(batch["tokens"][i], word_ids))
            columns = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
            if "token_type_ids" in enc:
                columns["token_type_ids"] = types if case else enc["token_type_ids"]
            return columns

        return map_batches(Dataset.from_dict({"tokens": split["tokens"], "tags": split["tags"]}), tokenize,
                           ["tokens", "tags"])

    def collator(self, tokenizer):
        from transformers import DataCollatorForTokenClassification

        # No pad_to_multiple_of: on a CPU every padded position costs time and buys nothing.
        return DataCollatorForTokenClassification(tokenizer)
