"""What several tasks share: the `Splits` a task's reader returns (and cutting a split's per-row lists together:
`split_rows`, `subset`), length statistics, bounded inputs, reading a
table of texts and labels (column names, cells, label names, limits), and the batching pieces (tokenizing in chunks,
padding in numpy, length-sorted prediction batches).

Only tasks/ and the modules that run a task's output (tuner.inference, tuner.train) import this; it imports no task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MAX_TEXT_CHARS = 10_000  # characters of one text a prediction reads (the rest is cut off)
MAX_FILE_ROWS = 100_000  # rows of one file a prediction or an evaluation reads
ENCODE_BATCH = 1000      # rows tokenized at a time by the tasks' encode()

# A table of texts and labels (classification, multi-label): the column names looked for first, and limits.
TEXT_NAMES = ["text", "sentence", "content", "body", "review", "message", "sms", "comment", "description",
              "utterance", "instruction", "question", "tweet", "document", "abstract", "summary"]
TITLE_NAMES = ["title", "subject", "headline", "summary"]
LABEL_NAMES = ["label", "labels", "class", "category", "intent", "target", "sentiment", "topic", "y", "tag"]
MAX_LABELS = 1000  # more different labels than this: not a label column
FEW_ROWS = 200     # fewer usable rows than this: a warning
FEW_PER_CLASS = 5  # a label on fewer rows than this: a warning


@dataclass
class Splits:
    """Examples ready for encoding, plus what the adapter must remember (label names, columns)."""

    train: dict
    validation: dict
    meta: dict
    warnings: list[str] = field(default_factory=list)
    skipped: list = field(default_factory=list)  # tuner.skipped.Skipped per file that had rows left out


def split_rows(split: dict) -> int:
    """Rows of a split: the length of its per-row lists (settings such as `packing` or `_meta` are not rows)."""
    return max((len(v) for k, v in split.items() if isinstance(v, list) and not k.startswith("_")), default=0)


def subset(split: dict, idx: list[int]) -> dict:
    """A copy of `split` holding only rows `idx` of its per-row lists (settings are kept as they are)."""
    n = split_rows(split)
    return {k: ([v[i] for i in idx] if isinstance(v, list) and len(v) == n and not k.startswith("_") else v)
            for k, v in split.items()}


def stats(values) -> dict:
    """min / median / 95th percentile / max / mean of a numpy array of lengths ({} when empty)."""
    if len(values) == 0:
        return {}
    return {"min": int(values.min()), "median": int(np.median(values)), "p95": int(np.percentile(values, 95)),
            "max": int(values.max()), "mean": round(float(values.mean()), 1)}


def approx_tokens(text: str) -> int:
    # WordPiece/BPE average ~1.3 tokens per whitespace word in English, plus 2 special tokens.
    return int(len(text.split()) * 1.3) + 2


def natural_key(label: str):
    """Sort key of label names: numbers by value first, then words alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label.lower())


def cell_text(value) -> str:
    """A table cell as stripped text ("" for a missing value)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def reads_like_text(label: str) -> bool:
    """A label no other row shares that reads like a sentence: text that slid into the label column."""
    return len(label) > 60 or len(label.split()) >= 5


def guess_label(df):
    """The column that looks most like labels (few distinct short values), or None."""
    best, best_score = None, math.inf
    for c in df.columns:
        values = df[c].astype(str)
        n_unique = values.nunique()
        if 2 <= n_unique <= min(MAX_LABELS, max(2, len(df) // 2)) and values.str.len().mean() < 40:
            score = n_unique / len(df) + values.str.len().mean() / 1000
            if score < best_score:
                best, best_score = c, score
    return best


def bounded(text) -> str:
    """A text as a string of at most MAX_TEXT_CHARS characters."""
    text = "" if text is None else str(text)
    return text[:MAX_TEXT_CHARS]


def listed(names, limit: int = 20) -> str:
    """'a, b, c' for the first `limit` names, then 'and N more'."""
    names = [str(n) for n in names]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def map_batches(dataset, fn, remove_columns=()):
    """`dataset.map(fn, batched=True)` kept in memory, as Arrow: ENCODE_BATCH rows at a time, no cache file, no
    progress bar, and no hashing of `fn` (it holds the tokenizer) for a cache key that nothing reads."""
    import secrets

    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    shown = not are_progress_bars_disabled()
    disable_progress_bars()
    try:
        return dataset.map(fn, batched=True, batch_size=ENCODE_BATCH, remove_columns=list(remove_columns),
                           keep_in_memory=True, new_fingerprint=secrets.token_hex(16))
    finally:
        if shown:
            enable_progress_bars()


class PadCollator:
    """The batches transformers' DataCollatorWithPadding builds from tokenized rows (ids, mask and token types
    padded to the longest row, rounded up to `pad_to_multiple_of`, on the tokenizer's padding side; labels as
    a tensor), padded in numpy without the tokenizer's per-row Python work: 0.07 instead of 1.5 ms per 32-row
    SST-2 batch (bench/collator.py), about 1% of a MiniLM training step on 2 CPU cores."""

    def __init__(self, tokenizer, pad_to_multiple_of: int = 1):
        self.pads = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0,
                     "token_type_ids": tokenizer.pad_token_type_id}
        self.side, self.multiple = tokenizer.padding_side, pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = round_up(max(len(f["input_ids"]) for f in features), self.multiple)
        batch = self.columns({key: [f[key] for f in features] for key in self.pads if key in features[0]}, width)
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch

    def columns(self, rows: dict[str, list[list[int]]], width: int) -> dict:
        """Each token column ({key: its rows}) as one int64 tensor of `width` columns, padded with that key's
        pad value on the tokenizer's side (also the batches the classifier's `predict` cuts itself)."""
        import torch

        return {key: torch.from_numpy(padded(column, width, self.pads[key], self.side)) for key, column in rows.items()}


def length_batches(lengths: list[int], batch_size: int, token_budget: int, pad_multiple: int = 1):
    """(row indices, padded width) of each batch `predict` runs: rows sorted by token length, at most
    `batch_size` rows and `token_budget` padded tokens each, widths rounded up to `pad_multiple` (a lone row is
    never padded)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    start = 0
    while start < len(order):
        end = start + 1  # lengths ascend, so the last row of a batch sets its padded width
        while end < len(order) and end - start < batch_size and (end - start + 1) * round_up(lengths[order[end]], pad_multiple) <= token_budget:
            end += 1
        idx = order[start:end]
        yield idx, round_up(lengths[idx[-1]], pad_multiple if len(idx) > 1 else 1)
        start = end



def batched_logits(model, tokenizer, texts: list[str], max_length: int, batch_size: int, token_budget: int,
                   pad_multiple: int = 1):
    """(row indices, float32 logits as numpy) per batch: every text tokenized in one call, sorted by length and cut
    into batches of at most `batch_size` rows and `token_budget` padded tokens (`length_batches`), so hardly any
    padding is computed. The sequence classifiers' prediction loop; each task turns logits into its answers."""
    import torch

    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    pad = PadCollator(tokenizer)
    lengths = [len(ids) for ids in enc["input_ids"]]
    device = model.device
    with torch.inference_mode():
        for idx, width in length_batches(lengths, batch_size, token_budget, pad_multiple):
            columns = pad.columns({k: [enc[k][i] for i in idx] for k in pad.pads if k in enc}, width)
            batch = {k: t.to(device) for k, t in columns.items()}
            yield idx, model(**batch).logits.float()

def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def padded(rows: list[list[int]], width: int, pad: int, side: str = "right") -> np.ndarray:
    """Token rows as one int64 array of `width` columns, padded with `pad` on `side` (what tokenizer.pad does,
    without its per-row Python work)."""
    out = np.full((len(rows), width), pad, dtype=np.int64)
    for j, row in enumerate(rows):
        if side == "left":
            out[j, width - len(row):] = row
        else:
            out[j, :len(row)] = row
    return out
