"""Suspected label errors in a run's training rows: rows whose given label the evidence contradicts, ranked by
cleanlab on label probabilities, each with a suggested label (the most probable other label).

The probabilities ("evidence", tuner.analysis.evidence): cross-validated TF-IDF + logistic regression ("classical"),
cross-validated logistic regression on the run's base model's sentence embeddings ("embeddings"; skipped beside
other evidence when the base model cannot read the text's language), the finetuned run's own probabilities on its
training rows ("model"; it saw those rows), or several joined by "+", averaged with weights from each one's log-loss
gain over the label shares. bench/label_noise.py measured each (docs/quality.md); the default is the measured best.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import DataError
from ..runs import Run
from . import evidence as ev
from . import store

# The evidences the page and the CLI offer (tuner.analysis.evidence; any parts joined by "+" are accepted too).
EVIDENCE = ("classical+embeddings+model", "classical+embeddings", "classical", "embeddings", "both", "model")
# The measured best (bench/label_noise.py, docs/quality.md): on SST-2 with 10% flipped, P@k 0.68 vs 0.57 for
# classical alone; embeddings are skipped where the base model cannot read the language, the model's where the run
# has no adapter, so on those files it is classical+model or classical.
DEFAULT_EVIDENCE = "classical+embeddings+model"
SKIPPED = {"embeddings": "Embeddings skipped: the base model does not read this text's language.",
           "model": "The finetuned model's evidence skipped: the run has no trained model.",
           "model_worse": "The finetuned model's evidence skipped: on the validation rows it does worse than the "
                          "classical baseline (see the verdict)."}
MAX_SHOWN = 2000  # flagged rows kept for the page and the CLI, lowest label quality first
AGREES = ("The evidence agrees with {share} of the given labels, so it is wrong on some rows too: look at each "
          "suggestion before accepting it.")  # the page and the CLI, under the count of flagged rows
DROP_SUGGESTION = "drop (maybe {label})"  # a row advised "drop" in the suggestion column (page and CLI)


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


def sure_at(labels, probs) -> np.ndarray:
    """Per label, how sure the evidence usually is when it agrees with it: the mean probability of label j over the
    rows given j whose most probable label is j (1.01, never reached, where no row is)."""
    labels, probs = np.asarray(labels, dtype=int), np.asarray(probs, dtype=float)
    agree = np.argmax(probs, axis=1) == labels
    return np.array([probs[agree & (labels == j), j].mean() if np.any(agree & (labels == j)) else 1.01
                     for j in range(probs.shape[1])])


def advice(labels, probs, suggest) -> np.ndarray:
    """Per row, what accepting its suggestion does: "relabel" (to the suggested label) where the evidence is at least
    as sure of that label as it usually is of the labels it agrees with (`sure_at`), else "drop": the evidence doubts
    the given label but is not sure of another. A wrong relabel teaches the model a wrong label, a wrong drop costs
    one row. Among flagged rows the suggested label is right more often the surer the evidence is of it; against
    relabelling or dropping every flagged row, bench/label_noise.py measured this rule in docs/quality.md ("A
    suggestion relabels only where the evidence is sure")."""
    probs = np.asarray(probs, dtype=float)
    suggest = np.asarray(suggest, dtype=int)
    sure = probs[np.arange(len(probs)), suggest] >= sure_at(labels, probs)[suggest]
    return np.where(sure, "relabel", "drop")


def latest(run: Run) -> dict:
    """The saved ranking, whatever evidence made it (the one the page shows); else a new one on the default."""
    saved = store.load(run, "label_issues")
    return find(run, saved["evidence"]) if saved else find(run)


def describe(found: dict, names: dict | None = None) -> str:
    """'classical 0.68 + embeddings 0.32': the evidence parts used and their weights in the average; `names` words
    each part (the page's language), else its id."""
    weights = found.get("weights") or {}
    name = (names or {}).get
    if len(weights) > 1:
        return " + ".join(f"{name(k, k)} {v:.2f}" for k, v in weights.items())
    return "+".join(name(k, k) for k in weights) or found["evidence"]


def gather(task, run: Run, parts: tuple[str, ...], texts: list[str], labels: list[int], names: list[str]) -> tuple[dict, list]:
    """({evidence part: probabilities}, the reasons parts were skipped: SKIPPED's keys). Beside other evidence,
    embeddings are skipped when the base model cannot read the text (tuner.language: a language it was not trained
    on, or many unknown tokens), and the model's when the run has no trained adapter or its verdict is "bad" (it
    learned next to nothing, or the classical baseline beats it on the held-out validation rows: the bundled
    English MiniLM on Chinese text, docs/quality.md, made the ranking worse)."""
    cfg = run.config()
    skipped = []
    if "model" in parts and len(parts) > 1:
        if not run.has_adapter():
            skipped.append("model")
        elif ((run.metrics() or {}).get("verdict") or {}).get("level") == "bad":
            skipped.append("model_worse")
    if "embeddings" in parts and len(parts) > 1:
        from .. import language

        if language.check(texts, cfg.model.name, language.tokenizer_for(cfg.model.name)) is not None:
            skipped.append("embeddings")
    out = {}
    if "classical" in parts:
        out["classical"] = ev.classical_probs(texts, labels, len(names))
    if "embeddings" in parts and "embeddings" not in skipped:
        out["embeddings"] = ev.embedding_probs(texts, labels, len(names), cfg.model.name, cfg.model.max_length)
    if "model" in parts and not {"model", "model_worse"} & set(skipped):
        from ..inference import get_predictor

        predictor = get_predictor(run)
        if list(predictor.meta.get("labels") or []) != names:
            raise DataError("The run's labels differ from its training file's; the model's evidence cannot be used.",
                            zh="该运行的标签与其训练文件不一致；无法使用模型的依据。")
        out["model"] = task.label_probabilities(predictor, texts)
    return out, skipped


def find(run: Run, evidence: str = DEFAULT_EVIDENCE, refresh: bool = False) -> dict:
    """{rows: flagged rows lowest quality first ({row, text, given, suggested, quality, suggested_prob, advice:
    "relabel" or "drop", see `advice`}), flagged, to_relabel (flagged rows advised "relabel"),
    rows_checked, evidence, weights (each evidence part's share of the average), skipped, seconds, labels,
    agreement (the share of rows whose most probable label is the given one)}; cached per adapter and evidence.

    The agreement says how far to trust the list: every correct label the evidence contradicts competes with the
    wrong ones for the top of the ranking (docs/quality.md, "Why the list is only as good as its evidence")."""
    from .mistakes import _task_of

    parts = ev.parts_of(evidence)
    if not parts:
        raise DataError(f"Unknown evidence '{evidence}'; choose one of: {', '.join(EVIDENCE)}.",
                        zh=f"未知的依据“{evidence}”；请从以下选择：{', '.join(EVIDENCE)}。")
    task = _task_of(run, "label_issues")
    if not refresh:
        cached = store.load(run, "label_issues")
        # a result saved before the rows carried advice (no "to_relabel") is ranked again
        if cached is not None and cached.get("evidence") == evidence and "to_relabel" in cached:
            return cached
    t0 = time.perf_counter()
    splits = task.analysis_splits(run.config())
    names = list(splits.meta["labels"])
    texts, labels = list(splits.train["text"]), list(splits.train["label"])
    found, skipped = gather(task, run, parts, texts, labels, names)
    probs, weights = ev.combine(labels, found)
    quality, mask = rank_issues(labels, probs)
    suggest = suggestions(labels, probs)
    advised = advice(labels, probs, suggest)
    order = [int(i) for i in np.argsort(quality, kind="stable") if mask[i]]
    rows = [{"row": int(splits.train["row"][i]), "text": texts[i], "given": names[labels[i]],
             "suggested": names[int(suggest[i])], "quality": round(float(quality[i]), 4),
             "suggested_prob": round(float(probs[i, suggest[i]]), 4), "advice": str(advised[i])}
            for i in order[:MAX_SHOWN]]
    result = {"evidence": evidence, "weights": {k: round(v, 3) for k, v in weights.items()}, "skipped": skipped,
              "rows_checked": len(texts), "flagged": len(order), "labels": names,
              "to_relabel": int(sum(advised[i] == "relabel" for i in order)),
              "agreement": round(float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels))), 4),
              "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
    return store.save(run, "label_issues", result)
