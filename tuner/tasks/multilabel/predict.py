"""Multi-label prediction: the probability of every label for each text, the labels chosen at the run's threshold
(tuner.tasks.multilabel.metrics has the rule), one CLI line per text, the Try-it view and a predicted file's columns.

`predict` answers in the shape the classifier's Try-it demo shows, {label: probability} highest first, as a
`Prediction` (a dict) that also carries `chosen`, the labels over the threshold, the `threshold` itself and the
`separator` a predictions file joins labels with. The Try-it tab titles the scores with every chosen label
(`demo_view`); file prediction is the contract's (`Task.predict_file`) with this task's columns (`file_columns`).
Nothing here needs scikit-learn (a published demo Space does not install it).
"""

from __future__ import annotations

import numpy as np

from ..common import batched_logits, listed
from .metrics import decide, threshold_of


class Prediction(dict):
    """{label: probability}, highest first, plus `chosen` (the labels the model gives the text, most likely first),
    the `threshold` they were chosen at and the `separator` a predictions file joins them with."""

    chosen: list[str]
    threshold: float
    separator: str = ";"


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
    threshold, separator = threshold_of(meta), output_separator(meta)
    if not texts:
        return []
    results: list = [None] * len(texts)
    for idx, logits in batched_logits(model, tokenizer, texts, max_length, batch_size, token_budget, pad_multiple):
        probs = torch.sigmoid(logits).cpu().numpy()
        picks = decide(probs, threshold)
        for i, row, pick in zip(idx, probs, picks):
            order = np.argsort(-row, kind="stable")
            result = Prediction((names[j], float(row[j])) for j in order)
            result.chosen = [names[j] for j in order if pick[j]]
            result.threshold, result.separator = threshold, separator
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


class MultiLabelPredict:
    """predict, format_prediction, demo_note, demo_view, chosen_labels, file_columns (tuner.tasks.base.Task)."""

    def predict(self, model, tokenizer, texts: list[str], meta: dict, max_length: int, **kwargs) -> list[Prediction]:
        return predict(model, tokenizer, texts, meta, max_length, **kwargs)

    def chosen(self, prediction: dict, meta: dict | None = None) -> list[str]:
        return chosen(prediction, meta)

    def format_prediction(self, text: str, prediction: dict) -> str:
        return format_prediction(text, prediction)

    def demo_note(self, meta: dict) -> str:
        return (f"Multi-label classifier · labels: {listed(meta.get('labels', []))} · a label is given at probability "
                f"{threshold_of(meta):.2f} or more")

    def demo_view(self, prediction) -> dict:
        """Every label's probability, titled with every label at or over the run's threshold."""
        return {"scores": dict(prediction), "chosen": chosen(prediction)}

    def chosen_labels(self, prediction) -> list[str]:
        return chosen(prediction)

    def file_columns(self, prediction) -> dict:
        """`predicted_labels` (every chosen label, joined by the training data's separator) and `confidences`
        (their probabilities, in the same order); blank for a row left out."""
        if prediction is None:
            return {"predicted_labels": "", "confidences": ""}
        labels, sep = chosen(prediction), getattr(prediction, "separator", ";")
        return {"predicted_labels": sep.join(labels), "confidences": sep.join(f"{prediction[x]:.4f}" for x in labels)}
