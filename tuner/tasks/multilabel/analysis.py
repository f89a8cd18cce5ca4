"""The multi-label classifier's error analysis (tuner.analysis.mistakes), shown in the classifier's "labels" view.

A validation row is wrong when the labels the model gives it (at the run's threshold, as the Evaluate tab scores
them) are not exactly its true labels. Its labels are written joined by "; ", with the labels it missed and the
extra ones it was given. The confidence of a wrong row is that of its surest wrong decision: the probability of an
extra label, or one minus the probability of a missed one. The ranked list counts each label's errors: "billing →
—" is billing missed on a row that has it, "— → urgent" urgent given to a row that does not have it. Like the
classifier's label pairs, the list stays readable at any number of labels.
"""

from __future__ import annotations

from collections import Counter

NONE = "—"  # the other side of a missed or an extra label in the ranked list
SETS_NOTE = ("A row is wrong when its labels are not exactly its true ones. In the list of label errors, "
             "“billing → —” is billing missed on a row that has it, “— → urgent” urgent given to a row that does not.")


def rank_set_mistakes(texts, true_ids, predictions, names, rows=None) -> list[dict]:
    """Every row whose chosen labels differ from its true ones, surest wrong decision first: {row, text, true,
    predicted (labels joined by "; "), true_set, predicted_set, missed, extra, confidence}. `predictions`: the
    task's predictions ({label: probability} with `.chosen`); `rows`: positions in the file (default 0..n-1)."""
    rows = list(range(len(texts))) if rows is None else rows
    out = []
    for i, (text, ids, pred) in enumerate(zip(texts, true_ids, predictions)):
        truth = [names[j] for j in ids]
        chosen = list(pred.chosen)
        missed = [x for x in truth if x not in chosen]
        extra = [x for x in chosen if x not in truth]
        if not missed and not extra:
            continue
        confidence = max([pred[x] for x in extra] + [1.0 - pred[x] for x in missed])
        out.append({"row": int(rows[i]), "text": text, "true": "; ".join(truth), "predicted": "; ".join(chosen),
                    "true_set": truth, "predicted_set": chosen, "missed": missed, "extra": extra,
                    "confidence": round(float(confidence), 4)})
    out.sort(key=lambda r: (-r["confidence"], r["row"]))
    return out


def label_errors(mistakes: list[dict]) -> list[dict]:
    """Each label's misses ("billing → —") and extras ("— → urgent"), most rows first, in the label pairs' shape."""
    counts = Counter()
    for m in mistakes:
        counts.update((x, NONE) for x in m["missed"])
        counts.update((NONE, x) for x in m["extra"])
    return [{"true": t, "predicted": p, "rows": n} for (t, p), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


class MultiLabelAnalysis:
    """analysis_splits, mistakes (tuner.tasks.base.Task)."""

    analyses = ("mistakes",)
    mistakes_kind = "labels"

    def analysis_splits(self, cfg):
        return self.load_splits(cfg, positions=True)

    def mistakes(self, predictor, split: dict, meta: dict) -> dict:
        """The validation rows labelled by the run's model at its threshold."""
        from ...analysis.mistakes import MAX_ROWS

        names = list(predictor.meta.get("labels") or meta["labels"])
        predictions = predictor.predict(split["text"]) if split["text"] else []
        wrong = rank_set_mistakes(split["text"], split["labels"], predictions, names, split["row"])
        return {"kind": "labels", "sets": True, "n_validation": len(split["text"]), "n_wrong": len(wrong),
                "labels": names, "pairs": label_errors(wrong), "rows": wrong[:MAX_ROWS]}
