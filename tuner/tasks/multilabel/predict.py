"""Multi-label prediction: the probability of every label for each text, the labels chosen at the run's threshold
(tuner.tasks.multilabel.metrics has the rule), one CLI line per text, file prediction and file evaluation.

`predict` answers in the shape the classifier's Try-it demo and file prediction already show, {label: probability}
highest first, as a `Prediction` (a dict) that also carries `chosen`, the labels over the threshold, and the
`threshold` itself. Nothing here needs scikit-learn (a published demo Space does not install it).
"""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np

from ... import data as data_mod
from ... import skipped as skip
from ...errors import DataError
from ..classification import PadCollator, length_batches
from .metrics import DEFAULT_THRESHOLD, decide, multi_hot


class Prediction(dict):
    """{label: probability}, highest first, plus `chosen` (the labels the model gives the text, most likely first)
    and the `threshold` they were chosen at."""

    chosen: list[str]
    threshold: float


def threshold_of(meta: dict) -> float:
    return float(meta.get("threshold", DEFAULT_THRESHOLD))


def chosen(prediction: dict, meta: dict | None = None) -> list[str]:
    """The labels a prediction gives its text: those at or over the run's threshold, else the most likely one."""
    if meta is None and hasattr(prediction, "chosen"):
        return list(prediction.chosen)
    threshold = threshold_of(meta or {})
    over = [label for label, p in prediction.items() if p >= threshold]
    return over or list(prediction)[:1]


def predict(model, tokenizer, texts: list[str], meta: dict, max_length: int, batch_size: int = 64,
            token_budget: int = 8192, pad_multiple: int = 1) -> list[Prediction]:
    """A `Prediction` for each text, in the order given; batched as classification's predict (length-sorted
    batches of at most `batch_size` rows and `token_budget` padded tokens)."""
    import torch

    names = meta["labels"]
    threshold = threshold_of(meta)
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
            probs = torch.sigmoid(model(**batch).logits.float()).cpu().numpy()
            picks = decide(probs, threshold)
            for i, row, pick in zip(idx, probs, picks):
                order = np.argsort(-row, kind="stable")
                result = Prediction((names[j], float(row[j])) for j in order)
                result.chosen = [names[j] for j in order if pick[j]]
                result.threshold = threshold
                results[i] = result
    return results


def format_prediction(text: str, prediction: dict) -> str:
    """One line for the CLI: every chosen label, their probabilities, the text (`a;b<TAB>0.91;0.62<TAB>text`)."""
    labels = chosen(prediction)
    probs = ";".join(f"{prediction[label]:.4f}" for label in labels)
    return f"{';'.join(labels)}\t{probs}\t{text[:80]}"


def output_separator(meta: dict) -> str:
    """How a predictions file joins a row's labels: the training data's separator when it had one, else ';' (so
    the file reads back as multi-label data)."""
    sep = meta.get("label_separator")
    return sep if sep in (";", "|") else ";"


def predict_file(task, predictor, path, out_path, text_columns=None) -> dict:
    """Predict every row of a table; writes a CSV with `predicted_labels` (every chosen label, joined by
    `output_separator`) and `confidences` (their probabilities, in the same order). A row with no text keeps its
    place with an empty prediction, and is counted."""
    from ...inference import MAX_FILE_ROWS

    df = task.read(path).df
    if len(df) > MAX_FILE_ROWS:
        raise DataError(f"The file has {len(df):,} rows; prediction takes at most {MAX_FILE_ROWS:,} per file.")
    meta = predictor.meta
    cols = list(text_columns or []) or [c for c in meta.get("text_columns", []) if c in df.columns]
    if not cols:
        cols = task.propose(df)["text_columns"]
    missing = [c for c in cols if c not in df.columns]
    if missing or not cols:
        raise DataError(f"The file has no column '{(missing or ['text'])[0]}'; it needs the same text column(s) as the "
                        "training data.")
    texts = ["\n".join(str(v).strip() for v in row if str(v).strip()) for row in df[cols].itertuples(index=False)]
    skipped = data_mod.skipped_of(df, "prediction file")
    usable = [i for i, t in enumerate(texts) if t]
    for i in range(len(texts)):
        if not texts[i]:
            skipped.add(data_mod.row_name(df, i), skip.no_text(cols))
    skipped.settle(data_mod.records_read(df))
    found = dict(zip(usable, predictor.predict([texts[i] for i in usable]))) if usable else {}
    sep = output_separator(meta)
    picked = {i: chosen(p) for i, p in found.items()}
    out = df.copy()
    out["predicted_labels"] = [sep.join(picked[i]) if i in picked else "" for i in range(len(texts))]
    out["confidences"] = [sep.join(f"{found[i][label]:.4f}" for label in picked[i]) if i in picked else ""
                          for i in range(len(texts))]
    data_mod.neutralise_formulas(out).to_csv(out_path, index=False, quoting=csv.QUOTE_MINIMAL)
    counts = Counter(label for labels in picked.values() for label in labels)
    result = {"rows": len(out), "path": str(out_path), "label_counts": dict(counts.most_common())}
    if skipped:
        result["left_out"] = skipped.as_report()
    return result


def evaluate_file(task, predictor, path) -> dict:
    """Score a labelled file with the same report as training's evaluation, at the run's own threshold, beside the
    classical floor refitted on the run's training rows."""
    from . import metrics

    meta = predictor.meta
    df = task.read(path).df
    cols, label_col = task.matching_columns(df, meta.get("text_columns", []), meta.get("label_column", ""))
    rows = task.extract(df, cols, label_col, source="evaluation file", known_labels=meta["labels"],
                        known_from="the model's training data")
    index = {n: i for i, n in enumerate(meta["labels"])}
    refs = [[index[lab] for lab in labs] for labs in rows.labels]
    found = predictor.predict(rows.texts)
    probs = np.array([[p[n] for n in meta["labels"]] for p in found]).reshape(-1, len(index))
    report = metrics.report(probs, multi_hot(refs, len(index)), meta, threshold=threshold_of(meta))
    report.update(predictor._floors(rows.texts, refs))
    if rows.skipped:
        report["left_out"] = rows.skipped.as_report()
    return predictor._with_verdict(report)

