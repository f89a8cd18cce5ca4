"""Suspected label errors in a run's training rows: rows whose given label the evidence contradicts, ranked by
cleanlab on out-of-sample label probabilities, each with a suggested label (the most probable other label).

Out-of-sample probabilities, cheaply: 5-fold cross-validated probabilities of a TF-IDF + logistic-regression model
(the classical baseline's features, tuner.classical), so no row is scored by a model that saw its label; and, with
`evidence="both"`, averaged with the finetuned model's probabilities on the training rows (which it did see, so
alone they under-flag). bench/label_noise.py measured the classical evidence (docs/quality.md); the model's is
offered but not yet measured (no GPU for the bench), so it is not the default.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from ..errors import DataError
from ..runs import Run
from . import store

FOLDS = 5
EVIDENCE = ("classical", "model", "both")
DEFAULT_EVIDENCE = "classical"  # the measured one (docs/quality.md); "model"/"both" are offered, not yet measured
MAX_SHOWN = 2000  # flagged rows kept for the page and the CLI, lowest label quality first


def cross_validated_probs(texts: list[str], labels: list[int], n_labels: int, folds: int = FOLDS,
                          seed: int = 0) -> np.ndarray:
    """(rows, n_labels) probabilities, each row's from a model fitted on the other folds."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    from ..classical import make_pipeline

    labels = np.asarray(labels, dtype=int)
    smallest = min(Counter(labels.tolist()).values())
    folds = max(2, min(folds, len(labels) // 2))
    split = (StratifiedKFold(folds, shuffle=True, random_state=seed) if smallest >= folds
             else KFold(folds, shuffle=True, random_state=seed))
    pipeline = make_pipeline(texts, probabilities=True)
    probs = cross_val_predict(pipeline, texts, labels, cv=split, method="predict_proba")
    seen = sorted(set(labels.tolist()))
    if probs.shape[1] != n_labels:  # a label no row has: a zero column in its place
        full = np.zeros((len(texts), n_labels))
        full[:, seen] = probs
        probs = full
    return probs


def rank_issues(labels, probs) -> tuple[np.ndarray, np.ndarray]:
    """(label quality per row: lower = more likely wrong; mask of the rows cleanlab flags as label issues)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=int)
    probs = np.clip(np.asarray(probs, dtype=float), 1e-6, None)
    probs = probs / probs.sum(axis=1, keepdims=True)
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    if len(set(labels.tolist())) < 2:
        return quality, np.zeros(len(labels), dtype=bool)
    mask = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    return quality, np.asarray(mask, dtype=bool) & (np.argmax(probs, axis=1) != labels)


def suggestions(labels, probs) -> np.ndarray:
    """The most probable label other than the given one, per row."""
    probs = np.array(probs, dtype=float)
    probs[np.arange(len(probs)), np.asarray(labels, dtype=int)] = -1.0
    return np.argmax(probs, axis=1)


def combine(classical: np.ndarray | None, model: np.ndarray | None) -> np.ndarray:
    parts = [p for p in (classical, model) if p is not None]
    return sum(parts) / len(parts)


def find(run: Run, evidence: str = DEFAULT_EVIDENCE, refresh: bool = False) -> dict:
    """{rows: flagged rows lowest quality first ({row, text, given, suggested, quality, suggested_prob}), flagged,
    rows_checked, evidence, seconds, labels}; cached per adapter and evidence."""
    from .mistakes import _task_of

    if evidence not in EVIDENCE:
        raise DataError(f"Unknown evidence '{evidence}'; choose one of: {', '.join(EVIDENCE)}.",
                        zh=f"未知的依据“{evidence}”；请从以下选择：{', '.join(EVIDENCE)}。")
    task = _task_of(run, "label_issues")
    if not refresh:
        cached = store.load(run, "label_issues")
        if cached is not None and cached.get("evidence") == evidence:
            return cached
    t0 = time.perf_counter()
    splits = task.analysis_splits(run.config())
    names = list(splits.meta["labels"])
    texts, labels = list(splits.train["text"]), list(splits.train["label"])
    classical = cross_validated_probs(texts, labels, len(names)) if evidence != "model" else None
    model = None
    if evidence != "classical":
        from ..inference import get_predictor

        predictor = get_predictor(run)
        if list(predictor.meta.get("labels") or []) != names:
            raise DataError("The run's labels differ from its training file's; the model's evidence cannot be used.",
                            zh="该运行的标签与其训练文件不一致；无法使用模型的依据。")
        model = task.label_probabilities(predictor, texts)
    probs = combine(classical, model)
    quality, mask = rank_issues(labels, probs)
    suggest = suggestions(labels, probs)
    order = [int(i) for i in np.argsort(quality, kind="stable") if mask[i]]
    rows = [{"row": int(splits.train["row"][i]), "text": texts[i], "given": names[labels[i]],
             "suggested": names[int(suggest[i])], "quality": round(float(quality[i]), 4),
             "suggested_prob": round(float(probs[i, suggest[i]]), 4)} for i in order[:MAX_SHOWN]]
    result = {"evidence": evidence, "rows_checked": len(texts), "flagged": len(order), "labels": names,
              "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
    return store.save(run, "label_issues", result)
