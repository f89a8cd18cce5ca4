"""The chat model: a causal LM (no new head), conversations encoded with the loss on assistant replies only
(packed or not), and padded batches."""

from __future__ import annotations

from ...errors import DataError
from . import format as cf


def chat_collator(tokenizer):
    """Padded batches of encoded conversations; carries the tokenizer for evaluate()'s generations."""
    cf.ensure_pad_token(tokenizer)
    collate = cf.ChatCollator(tokenizer.pad_token_id)
    collate.tokenizer = tokenizer  # evaluate() generates with it (the Trainer is built without a tokenizer)
    return collate


class ChatModel:
    """build_model, modules_to_save, encode, collator (tuner.tasks.base.Task)."""

    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None, **config_overrides):
        from transformers import AutoModelForCausalLM

        from ...models import load_pretrained

        kwargs = {"dtype": dtype} if dtype is not None else {}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        kwargs.update(config_overrides)  # e.g. dropout probabilities set to 0 by train.py
        return load_pretrained(AutoModelForCausalLM, source, **kwargs)

    def modules_to_save(self, model) -> list[str]:
        return []  # the LM head and embeddings stay frozen: LoRA on the projections is enough to follow a format

    def encode(self, split: dict, tokenizer, max_length: int):
        """input_ids / attention_mask / labels (-100 outside assistant replies); packed rows carry position_ids.
        Encoded ENCODE_BATCH conversations at a time into Arrow tables (int32 ids), so the Python lists of ids live
        one chunk at a time; packing carries a chunk's last, unfilled row into the next, as one pass would."""
        from datasets import Dataset, concatenate_datasets

        from .. import common

        cf.ensure_pad_token(tokenizer)
        template = cf.resolve_template(split.get("template", "auto"), tokenizer)
        if "_meta" in split:
            split["_meta"]["template"] = template
        packing = bool(split.get("packing"))
        keys = ("input_ids", "labels", "position_ids") if packing else ("input_ids", "attention_mask", "labels")
        convs = split["conversations"]
        stats = {"conversations": len(convs), "truncated": 0, "dropped": 0, "tokens": 0, "loss_tokens": 0, "rows": 0}
        parts, carry = [], []
        for start in range(0, len(convs), common.ENCODE_BATCH):
            encoded = [cf.encode(c, template, tokenizer, max_length) for c in convs[start:start + common.ENCODE_BATCH]]
            kept = [e for e in encoded if any(x != cf.IGNORE for x in e.labels)]
            stats["truncated"] += sum(e.truncated for e in encoded)
            stats["dropped"] += len(encoded) - len(kept)
            stats["tokens"] += sum(len(e.input_ids) for e in kept)
            stats["loss_tokens"] += sum(sum(x != cf.IGNORE for x in e.labels) for e in kept)
            if packing:
                pending = carry + kept
                rows = cf.pack(pending, max_length)
                carry = []
                if rows and start + common.ENCODE_BATCH < len(convs):  # the last row may still take the next chunk's first
                    last, held = len(rows.pop()["input_ids"]), 0
                    while held < last:
                        carry.insert(0, pending[len(pending) - len(carry) - 1])
                        held += len(carry[0].input_ids)
                columns = {k: [r[k] for r in rows] for k in keys}
            else:
                columns = {"input_ids": [e.input_ids for e in kept], "attention_mask": [[1] * len(e.input_ids) for e in kept],
                           "labels": [e.labels for e in kept]}
            if columns["input_ids"]:
                parts.append(Dataset.from_dict(columns))
                stats["rows"] += len(columns["input_ids"])
        split["stats"] = stats
        truncated, dropped, name = stats["truncated"], stats["dropped"], split.get("name", "training")
        warnings = split.get("_warnings")
        if truncated and warnings is not None:
            warnings.append(f"{truncated} of {len(convs)} {name} conversations are longer than {max_length} tokens and were "
                            f"truncated" + (f"; {dropped} lost every reply token and were left out." if dropped else "."))
        if convs and not parts and name == "training":
            raise DataError(f"Every training conversation loses all of its reply tokens at the max length of {max_length} tokens; raise model.max_length.")
        if not parts:
            return Dataset.from_dict({k: [] for k in keys})
        return parts[0] if len(parts) == 1 else concatenate_datasets(parts)

    def collator(self, tokenizer):
        return chat_collator(tokenizer)
