"""What a finished run gets wrong on its validation rows. A classifier: the rows it gets wrong, most confident first,
and the label pairs it confuses most (made here). Other tasks make their own view through the `mistakes` hook: the
multi-label classifier's rows with a wrong label set, in the same view (tuner/tasks/multilabel/analysis.py), the
tagger's sentences with the most entity errors (tuner/tasks/ner/analysis.py), chat's answers with the lowest ROUGE-L
(tuner/tasks/chat/analysis.py).

The validation rows are read again as training read them (the same split, seed and cap), scored by the run's own
model (tuner.inference), and the result is kept in the run's analysis/ folder until the adapter changes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import RunError
from ..runs import Run
from . import store

MAX_ROWS = 5000  # mistakes kept (most confident first); the pairs count every one


def _task_of(run: Run, wanted: str):
    from ..tasks import get_task

    task = get_task(run.config().task)
    if wanted not in task.analyses:
        raise RunError(f"Error analysis is not available for {task.title.lower()} runs.",
                       zh=f"{task.title_zh or task.title}运行暂不支持错误分析。")
    return task


def validation_rows(run: Run, task) -> tuple[dict, dict]:
    """(the validation split the run was scored on, with "row" positions; the splits' meta: labels, types)."""
    from ..train import capped_validation

    cfg = run.config()
    splits = task.analysis_splits(cfg)
    return capped_validation(splits, cfg), splits.meta


def rank_mistakes(texts, refs, probs, names, rows=None) -> list[dict]:
    """Every row whose top label is not its reference, most confident first: {row, text, true, predicted,
    confidence (the predicted label's probability), true_prob}. `rows`: positions in the file (default 0..n-1)."""
    probs = np.asarray(probs, dtype=float)
    rows = list(range(len(texts))) if rows is None else rows
    out = []
    for i, (text, ref) in enumerate(zip(texts, refs)):
        pred = int(np.argmax(probs[i]))
        if pred != int(ref):
            out.append({"row": int(rows[i]), "text": text, "true": names[int(ref)], "predicted": names[pred],
                        "confidence": round(float(probs[i, pred]), 4), "true_prob": round(float(probs[i, int(ref)]), 4)})
    out.sort(key=lambda r: (-r["confidence"], r["row"]))
    return out


def confused_pairs(mistakes: list[dict]) -> list[dict]:
    """The (true -> predicted) pairs, most rows first: readable at any number of labels."""
    counts = Counter((m["true"], m["predicted"]) for m in mistakes)
    return [{"true": t, "predicted": p, "rows": n} for (t, p), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def find(run: Run, refresh: bool = False) -> dict:
    """The run's mistakes view, cached per adapter. "kind" says which: "labels" {rows: mistakes most confident
    first, pairs, n_validation, n_wrong, labels}; otherwise the task's own (`Task.mistakes`: "entities" for the
    tagger, "answers" for chat)."""
    task = _task_of(run, "mistakes")
    if not refresh:
        cached = store.load(run, "mistakes")
        if cached is not None:
            return cached
    from ..inference import get_predictor

    predictor = get_predictor(run)
    split, meta = validation_rows(run, task)
    result = task.mistakes(predictor, split, meta)
    if result is None:
        names = list(predictor.meta.get("labels") or meta["labels"])
        probs = task.label_probabilities(predictor, split["text"])
        wrong = rank_mistakes(split["text"], split["label"], probs, names, split["row"])
        result = {"kind": "labels", "n_validation": len(split["text"]), "n_wrong": len(wrong), "labels": names,
                  "pairs": confused_pairs(wrong), "rows": wrong[:MAX_ROWS]}
    return store.save(run, "mistakes", result)


def kind_of(found: dict) -> str:
    """Which view a result is: "labels" (also a result saved before views had kinds), "entities" or "answers"."""
    return found.get("kind", "labels")


def filtered(rows: list[dict], true: str | None = None, predicted: str | None = None) -> list[dict]:
    """The mistakes whose true and/or predicted label is the one given (None or "" = any); a multi-label row's
    when its true / predicted labels include it."""
    return [r for r in rows if (not true or true in r.get("true_set", [r["true"]]))
            and (not predicted or predicted in r.get("predicted_set", [r["predicted"]]))]


def with_type(rows: list[dict], entity_type: str | None = None) -> list[dict]:
    """The sentences of an "entities" view with an error that involves `entity_type` (the reference's or the
    prediction's type; None or "" = every sentence)."""
    return [r for r in rows if not entity_type or entity_type in r["types"]]
