"""Text classification: one or more text columns -> one label per row."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .. import data as data_mod
from .. import skipped as skip
from ..errors import DataError
from . import register

TEXT_NAMES = ["text", "sentence", "content", "body", "review", "message", "sms", "comment", "description",
              "utterance", "instruction", "question", "tweet", "document", "abstract", "summary"]
TITLE_NAMES = ["title", "subject", "headline", "summary"]
LABEL_NAMES = ["label", "labels", "class", "category", "intent", "target", "sentiment", "topic", "y", "tag"]
MAX_LABELS = 1000
FEW_ROWS = 200
FEW_PER_CLASS = 5


@dataclass
class Splits:
    """Examples ready for encoding, plus what the adapter must remember (label names, columns)."""

    train: dict
    validation: dict
    meta: dict
    warnings: list[str] = field(default_factory=list)
    skipped: list = field(default_factory=list)  # tuner.skipped.Skipped per file that had rows left out


def _approx_tokens(text: str) -> int:
    # WordPiece/BPE average ~1.3 tokens per whitespace word in English, plus 2 special tokens.
    return int(len(text.split()) * 1.3) + 2


def _natural_key(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label.lower())


class ClassificationTask:
    name = "classification"
    title = "Text classification"
    demo = "classifier"            # which Try-it demo the page shows for runs of this task
    selection_metric = "macro_f1"  # picks the best checkpoint on the validation split
    sort_validation = True        # validation rows are scored in length order (tight batches); order-free metrics
    headline_metric = "macro_f1"   # what the verdict compares (tuner/verdict.py)
    floors = ("classical", "baseline")  # report keys the model must beat: TF-IDF model, then the majority class
    column_roles = {"text_columns": "Text column(s)", "label_column": "Label column"}

    # ---- columns ---------------------------------------------------------------------------------
    def propose(self, df) -> dict:
        cols = list(df.columns)
        lower = {c.lower().strip(): c for c in cols}
        label = next((lower[n] for n in LABEL_NAMES if n in lower), None)
        if label is None:
            label = self._guess_label(df)
        rest = [c for c in cols if c != label]
        text = next((lower[n] for n in TEXT_NAMES if n in lower and lower[n] != label), None)
        if text is None and rest:
            text = max(rest, key=lambda c: df[c].astype(str).str.len().mean())
        texts = [text] if text else []
        title = next((lower[n] for n in TITLE_NAMES if n in lower and lower[n] not in (label, text)), None)
        if title and text:
            texts = [title, text]
        return {"text_columns": texts, "label_column": label or ""}

    @staticmethod
    def _guess_label(df):
        best, best_score = None, math.inf
        for c in df.columns:
            values = df[c].astype(str)
            n_unique = values.nunique()
            if 2 <= n_unique <= min(MAX_LABELS, max(2, len(df) // 2)) and values.str.len().mean() < 40:
                score = n_unique / len(df) + values.str.len().mean() / 1000
                if score < best_score:
                    best, best_score = c, score
        return best

    # ---- reading and validating ------------------------------------------------------------------
    def extract(self, df, text_columns: list[str], label_column: str, source: str = "training file",
                strict: bool = False, known_labels=None, known_from: str = "the training file"):
        """(texts, labels, skipped) from the usable rows of a table. Rows with no label, no text, a label that
        reads like text or (with `known_labels`) a label never seen are left out and counted in `skipped`
        (tuner.skipped), which has already decided: the file is refused (DataError) when too many are unusable."""
        if not text_columns:
            raise DataError(f"No text column chosen for the {source}; pick the column that holds the text.")
        if not label_column:
            raise DataError(f"No label column chosen for the {source}; pick the column that holds the labels.")
        for col in [*text_columns, label_column]:
            if col not in df.columns:
                raise DataError(f"The {source} has no column '{col}'; its columns are: {', '.join(map(str, df.columns))}.")
        if label_column in text_columns:
            raise DataError(f"Column '{label_column}' is chosen as both text and label; pick different columns.")
        for col in [*text_columns, label_column]:
            if df[col].map(lambda v: isinstance(v, (list, dict))).any():
                raise DataError(f"Column '{col}' of the {source} holds lists or objects, not text; pick a column of plain text.")
        parts = [df[c].map(_cell_text) for c in text_columns]
        texts = ["\n".join(p for p in row if p) for row in zip(*parts)]
        labels = [str(v).strip() for v in df[label_column].map(_cell_text)]
        skipped = data_mod.skipped_of(df, source)
        counts = Counter(labels)
        text_like = {lab for lab, n in counts.items() if n == 1 and _reads_like_text(lab)} if len(labels) >= 50 else set()
        known = set(known_labels) if known_labels is not None else None
        keep = []
        for i, (t, lab) in enumerate(zip(texts, labels)):
            if not lab:
                skipped.add(data_mod.row_name(df, i), skip.no_label(label_column))
            elif not t.strip():
                skipped.add(data_mod.row_name(df, i), skip.no_text(text_columns))
            elif lab in text_like:
                skipped.add(data_mod.row_name(df, i), skip.label_like_text(lab))
            elif known is not None and lab not in known:
                skipped.add(data_mod.row_name(df, i), skip.unknown_label(lab, known_from))
            else:
                keep.append(i)
        skipped.settle(data_mod.records_read(df), strict)
        if len(keep) < len(texts):
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        _check_mixed_types(labels, label_column, source)
        return texts, labels, skipped

    def inspect(self, df, cfg) -> dict:
        """Statistics and warnings for the upload page (raises DataError on a blocking problem)."""
        cols = cfg.data.text_columns, cfg.data.label_column
        proposal = self.propose(df)
        text_columns = list(cols[0]) or proposal["text_columns"]
        label_column = cols[1] or proposal["label_column"]
        texts, labels, skipped = self.extract(df, text_columns, label_column, strict=cfg.data.strict)
        counts = Counter(labels)
        warnings = skipped.warnings() + self._warnings(texts, labels, counts, cfg.model.max_length)
        lengths = np.array([len(t) for t in texts])
        toks = np.array([_approx_tokens(t) for t in texts])
        return {
            "task": self.name, "rows": len(texts), "text_columns": text_columns, "label_column": label_column,
            "label_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "length_chars": _stats(lengths), "length_tokens_approx": _stats(toks),
            "warnings": warnings, "skipped": skipped, "labels": sorted(counts, key=_natural_key),
        }

    def check_validation(self, vdf, info: dict, cfg):
        """The Data tab's look at a validation file, by the same rules as training will read it: (rows, skipped)."""
        vcols, vlabel = self.matching_columns(vdf, info["text_columns"], info["label_column"])
        texts, _, skipped = self.extract(vdf, vcols, vlabel, source="validation file", strict=cfg.data.strict,
                                         known_labels=info["labels"])
        return len(texts), skipped

    def _warnings(self, texts, labels, counts, max_length) -> list[str]:
        out = []
        if len(counts) < 2:
            only = next(iter(counts), "")
            raise DataError(f"Every row has the label '{only}'; a classifier needs at least two different labels.")
        if len(counts) > MAX_LABELS:
            raise DataError(f"The label column has {len(counts)} different values (over {MAX_LABELS}); is it really the label column?")
        if len(texts) < FEW_ROWS:
            out.append(f"Only {len(texts)} rows: expect weak results; a few hundred rows per label help.")
        rare = [lab for lab, n in counts.items() if n < FEW_PER_CLASS]
        if rare:
            out.append(f"{len(rare)} label(s) have fewer than {FEW_PER_CLASS} examples (e.g. '{rare[0]}'); the model will rarely predict them.")
        pairs = Counter(zip(texts, labels))
        dupes = sum(n - 1 for n in pairs.values() if n > 1)
        if dupes:
            out.append(f"{dupes} duplicate rows (same text and label); they inflate validation scores if split across train and validation.")
        by_text: dict[str, set] = {}
        for t, lab in zip(texts, labels):
            by_text.setdefault(t, set()).add(lab)
        conflicts = sum(1 for labs in by_text.values() if len(labs) > 1)
        if conflicts:
            out.append(f"{conflicts} texts appear with different labels; the model cannot get those all right.")
        too_long = sum(1 for t in texts if _approx_tokens(t) > max_length)
        if too_long:
            out.append(f"About {too_long} texts are longer than the max length of {max_length} tokens and will be truncated.")
        return out

    def load_splits(self, cfg) -> Splits:
        """Read the configured file(s) into train/validation examples with integer label ids."""
        table = data_mod.read_table(cfg.data.train_file)
        warnings = list(table.warnings)
        proposal = self.propose(table.df)
        text_columns = list(cfg.data.text_columns) or proposal["text_columns"]
        label_column = cfg.data.label_column or proposal["label_column"]
        texts, labels, skipped = self.extract(table.df, text_columns, label_column, strict=cfg.data.strict)
        lists = [skipped]
        warnings += skipped.warnings()
        warnings += self._warnings(texts, labels, Counter(labels), cfg.model.max_length)
        if cfg.data.max_train_rows and len(texts) > cfg.data.max_train_rows:
            rng = np.random.default_rng(cfg.seed)
            keep = sorted(rng.choice(len(texts), cfg.data.max_train_rows, replace=False).tolist())
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        if cfg.data.validation_file:
            vtable = data_mod.read_table(cfg.data.validation_file)
            vtext_cols, vlabel_col = self.matching_columns(vtable.df, text_columns, label_column)
            vtexts, vlabels, vskipped = self.extract(vtable.df, vtext_cols, vlabel_col, source="validation file",
                                                     strict=cfg.data.strict, known_labels=set(labels))
            lists.append(vskipped)
            warnings += vtable.warnings + vskipped.warnings()
        else:
            tr, va = data_mod.stratified_split(labels, data_mod.held_out_share(cfg.data, len(labels)), cfg.seed)
            vtexts, vlabels = [texts[i] for i in va], [labels[i] for i in va]
            texts, labels = [texts[i] for i in tr], [labels[i] for i in tr]
        names = sorted(set(labels), key=_natural_key)
        index = {n: i for i, n in enumerate(names)}
        meta = {"task": self.name, "labels": names, "text_columns": text_columns, "label_column": label_column}
        return Splits(
            train={"text": texts, "label": [index[x] for x in labels]},
            validation={"text": vtexts, "label": [index[x] for x in vlabels]},
            meta=meta, warnings=warnings, skipped=[s for s in lists if s],
        )

    def matching_columns(self, df, text_columns: list[str], label_column: str) -> tuple[list[str], str]:
        """Columns of a second file (validation, evaluation): the training names where present, else detected
        the same way (SST-2's dev file calls its text column 'content' where train says 'sentence')."""
        if all(c in df.columns for c in [*text_columns, label_column]):
            return list(text_columns), label_column
        proposal = self.propose(df)
        texts = [c for c in text_columns if c in df.columns] or proposal["text_columns"]
        label = label_column if label_column in df.columns else proposal["label_column"]
        return texts, label

    # ---- model -----------------------------------------------------------------------------------
    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None,
                    first_token_only: bool = True, **config_overrides):
        """The base model with a new classification head. `first_token_only`: the last encoder layer computes only
        the position the head reads, where the model is a known [CLS] classifier (tuner/cpu/cls_layer.py)."""
        from transformers import AutoModelForSequenceClassification

        from ..cpu.cls_layer import first_token_only as trim_last_layer
        from ..models import load_pretrained

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

    peft_task_type = "SEQ_CLS"

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

    # ---- metrics ---------------------------------------------------------------------------------
    def headline_metrics(self, preds, refs, n_labels: int) -> dict:
        from .. import metrics

        preds, refs = list(map(int, preds)), list(map(int, refs))
        labels = list(range(n_labels))
        out = {"accuracy": metrics.load("accuracy").compute(predictions=preds, references=refs)["accuracy"]}
        for name in ("f1", "precision", "recall"):
            out[f"macro_{name}" if name == "f1" else name] = metrics.load(name).compute(
                predictions=preds, references=refs, labels=labels, average="macro")[name]
        return out

    def compute_metrics(self, meta: dict):
        n = len(meta["labels"])

        def fn(eval_pred):
            logits, refs = eval_pred
            return self.headline_metrics(np.argmax(logits, axis=-1), refs, n)

        return fn

    def report_from_output(self, output, splits: Splits) -> dict:
        """The report for a `Trainer.predict` output on the validation split."""
        preds = np.argmax(output.predictions, axis=-1)
        return self.report(preds, output.label_ids, splits.meta, train_labels=splits.train["label"])

    def format_prediction(self, text: str, prediction: dict) -> str:
        """One line for the CLI: the top label, its probability, the text."""
        top = next(iter(prediction))
        return f"{top}\t{prediction[top]:.4f}\t{text[:80]}"

    def report(self, preds, refs, meta: dict, train_labels: list[int] | None = None) -> dict:
        """Headline metrics, a per-label report, the confusion matrix and the majority-class baseline."""
        from .. import metrics

        names = meta["labels"]
        ids = list(range(len(names)))
        preds, refs = [int(p) for p in preds], [int(r) for r in refs]
        out = self.headline_metrics(preds, refs, len(names))
        per = {m: metrics.load(m).compute(predictions=preds, references=refs, labels=ids, average=None)[m]
               for m in ("precision", "recall", "f1")}
        support = Counter(refs)
        out["per_label"] = [
            {"label": names[i], "precision": per["precision"][i], "recall": per["recall"][i], "f1": per["f1"][i],
             "support": support.get(i, 0)} for i in ids
        ]
        matrix = np.zeros((len(names), len(names)), dtype=int)
        for r, p in zip(refs, preds):
            matrix[r, p] += 1
        out["confusion_matrix"] = matrix.tolist()
        majority = Counter(train_labels or refs).most_common(1)[0][0]
        out["baseline"] = {"name": f"majority class ('{names[majority]}')",
                           **self.headline_metrics([majority] * len(refs), refs, len(names))}
        out["labels"] = names
        out["n_examples"] = len(refs)
        return out

    def classical_floor(self, splits: Splits, texts=None, refs=None) -> dict:
        """{"classical": scores} of a TF-IDF + linear model fitted on the training rows, scored on the validation
        rows (or on `texts` / `refs`, label ids, e.g. an evaluation file); {} when it cannot be fitted."""
        from ..classical import classical_scores

        texts = splits.validation["text"] if texts is None else texts
        refs = splits.validation["label"] if refs is None else refs
        scores = classical_scores(self, splits.train["text"], splits.train["label"], texts, refs, len(splits.meta["labels"]))
        return {"classical": scores} if scores else {}

    # ---- inference -------------------------------------------------------------------------------
    def predict(self, model, tokenizer, texts: list[str], meta: dict, max_length: int, batch_size: int = 64,
                token_budget: int = 8192, pad_multiple: int = 1):
        """Label probabilities for each text: a list of {label: probability}, highest first.

        All texts are tokenized in one call (the fast tokenizer's batch path), sorted by token length and cut
        into batches of at most `batch_size` rows and `token_budget` padded tokens, so long texts go in
        small batches and hardly any padding is computed. 64 rows, padded to the longest and no further: SST-2
        dev is 72% real tokens in batches of 256 padded to a multiple of 8, 93% in these
        (bench/file_prediction.py)."""
        import torch

        names = meta["labels"]
        if not texts:
            return []
        enc = tokenizer(list(texts), truncation=True, max_length=max_length)
        pad = PadCollator(tokenizer)
        lengths = [len(ids) for ids in enc["input_ids"]]
        results: list = [None] * len(texts)
        device = model.device
        with torch.inference_mode():
            for idx, width in length_batches(lengths, batch_size, token_budget, pad_multiple):
                columns = pad.columns({k: [enc[k][i] for i in idx] for k in pad.pads if k in enc}, width)
                batch = {k: t.to(device) for k, t in columns.items()}
                probs = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
                for i, row in zip(idx, probs):
                    results[i] = {names[j]: float(row[j]) for j in np.argsort(-row)}
        return results


ENCODE_BATCH = 1000  # rows tokenized at a time by the tasks' encode()


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

        width = _round_up(max(len(f["input_ids"]) for f in features), self.multiple)
        batch = self.columns({key: [f[key] for f in features] for key in self.pads if key in features[0]}, width)
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch

    def columns(self, rows: dict[str, list[list[int]]], width: int) -> dict:
        """Each token column ({key: its rows}) as one int64 tensor of `width` columns, padded with that key's
        pad value on the tokenizer's side (also the batches `ClassificationTask.predict` cuts itself)."""
        import torch

        return {key: torch.from_numpy(_padded(column, width, self.pads[key], self.side)) for key, column in rows.items()}


def length_batches(lengths: list[int], batch_size: int, token_budget: int, pad_multiple: int = 1):
    """(row indices, padded width) of each batch `predict` runs: rows sorted by token length, at most
    `batch_size` rows and `token_budget` padded tokens each, widths rounded up to `pad_multiple` (a lone row is
    never padded)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    start = 0
    while start < len(order):
        end = start + 1  # lengths ascend, so the last row of a batch sets its padded width
        while end < len(order) and end - start < batch_size and (end - start + 1) * _round_up(lengths[order[end]], pad_multiple) <= token_budget:
            end += 1
        idx = order[start:end]
        yield idx, _round_up(lengths[idx[-1]], pad_multiple if len(idx) > 1 else 1)
        start = end


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _padded(rows: list[list[int]], width: int, pad: int, side: str = "right") -> np.ndarray:
    """Token rows as one int64 array of `width` columns, padded with `pad` on `side` (what tokenizer.pad does,
    without its per-row Python work)."""
    out = np.full((len(rows), width), pad, dtype=np.int64)
    for j, row in enumerate(rows):
        if side == "left":
            out[j, width - len(row):] = row
        else:
            out[j, :len(row)] = row
    return out


def _reads_like_text(label: str) -> bool:
    """A label no other row shares that reads like a sentence: text that slid into the label column."""
    return len(label) > 60 or len(label.split()) >= 5


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _check_mixed_types(labels: list[str], column: str, source: str) -> None:
    numeric = [bool(_NUMBER.match(x)) for x in labels]
    if any(numeric) and not all(numeric):
        i_num, i_word = numeric.index(True), numeric.index(False)
        raise DataError(
            f"The label column '{column}' of the {source} mixes numbers and words (e.g. '{labels[i_num]}' in row {i_num + 1} "
            f"and '{labels[i_word]}' in row {i_word + 1}); use one kind of label throughout."
        )


def _stats(values) -> dict:
    if len(values) == 0:
        return {}
    return {"min": int(values.min()), "median": int(np.median(values)), "p95": int(np.percentile(values, 95)),
            "max": int(values.max()), "mean": round(float(values.mean()), 1)}


TASK = register(ClassificationTask())
