"""Multi-label scores: the decision rule, the threshold chosen on validation, the report, and the two floors the
verdict reads (the most common label set, and TF-IDF + one-vs-rest logistic regression).

Decision rule (training's evaluations, the report, prediction and the floors alike): a row gets every label whose
sigmoid probability is at or over the threshold, and its most likely label when none is, since every training row
has at least one. The threshold is the value of GRID that gives the best micro F1 on the validation rows (the
nearest to 0.5 among equals); the run keeps it in its meta (`tuner_meta.json`), so prediction and exports use it.

Keys: micro_f1 (the headline and the checkpoint selection), macro_f1, samples_f1 (F1 of each row's label set,
averaged), accuracy (subset accuracy: the whole label set right), precision and recall (micro), threshold.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import numpy as np

log = logging.getLogger("tuner.tasks.multilabel")

GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05, 0.10, ... 0.95
DEFAULT_THRESHOLD = 0.5  # until a validation split has chosen one (a run with no validation rows)


def threshold_of(meta: dict) -> float:
    """The run's threshold (its meta), DEFAULT_THRESHOLD where none was chosen."""
    return float(meta.get("threshold", DEFAULT_THRESHOLD))


def sigmoid(logits) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, dtype=np.float64), -60, 60)))


def multi_hot(label_ids: list[list[int]], n_labels: int) -> np.ndarray:
    """Rows of label ids as a boolean (rows, n_labels) matrix."""
    out = np.zeros((len(label_ids), n_labels), dtype=bool)
    for i, ids in enumerate(label_ids):
        out[i, list(ids)] = True
    return out


def decide(probs, threshold: float) -> np.ndarray:
    """The labels each row gets (boolean matrix): those at or over `threshold`, else the row's most likely one."""
    probs = np.asarray(probs)
    chosen = probs >= threshold
    if chosen.size:
        empty = np.flatnonzero(~chosen.any(axis=1))
        chosen[empty, probs[empty].argmax(axis=1)] = True
    return chosen


def _micro_f1(pred: np.ndarray, refs: np.ndarray) -> float:
    tp = int((pred & refs).sum())
    wrong = int((pred ^ refs).sum())
    return 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0


def choose_threshold(probs, refs) -> float:
    """The GRID threshold with the best micro F1 of `decide` on (probs, refs); the nearest to 0.5 among equals."""
    probs, refs = np.asarray(probs), np.asarray(refs) >= 0.5
    if not len(probs):
        return DEFAULT_THRESHOLD
    return max(GRID, key=lambda t: (round(_micro_f1(decide(probs, t), refs), 12), -abs(t - DEFAULT_THRESHOLD)))


def scores(pred, refs) -> dict:
    """The headline scores of boolean label matrices (scikit-learn's F1 averages; 0 where a score is undefined)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    pred, refs = np.asarray(pred, dtype=bool), np.asarray(refs) >= 0.5
    if not len(refs):
        return {k: 0.0 for k in ("micro_f1", "macro_f1", "samples_f1", "accuracy", "precision", "recall")}
    f1 = {avg: float(f1_score(refs, pred, average=avg, zero_division=0)) for avg in ("micro", "macro", "samples")}
    return {"micro_f1": f1["micro"], "macro_f1": f1["macro"], "samples_f1": f1["samples"],
            "accuracy": float((pred == refs).all(axis=1).mean()),
            "precision": float(precision_score(refs, pred, average="micro", zero_division=0)),
            "recall": float(recall_score(refs, pred, average="micro", zero_division=0))}


def compute_metrics(meta: dict):
    """The Trainer's hook: the scores at the threshold chosen on this evaluation. The threshold of the best
    evaluation so far (by micro F1, as the Trainer picks its best checkpoint) is written into `meta`, which the run
    saves with the adapter when training ends."""
    best = [-1.0]

    def fn(eval_pred):
        logits, refs = eval_pred
        probs = sigmoid(logits)
        threshold = choose_threshold(probs, refs)
        out = {**scores(decide(probs, threshold), refs), "threshold": threshold}
        if out["micro_f1"] > best[0]:
            best[0] = out["micro_f1"]
            meta["threshold"] = threshold
        return out

    return fn


def report(probs, refs, meta: dict, train_labels: list[list[int]] | None = None,
           threshold: float | None = None) -> dict:
    """Scores, per-label precision/recall/F1/support, the threshold (chosen here when not given) and the baseline."""
    from sklearn.metrics import precision_recall_fscore_support

    names = meta["labels"]
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(names))
    refs = np.asarray(refs).reshape(-1, len(names)) >= 0.5
    if threshold is None:
        threshold = choose_threshold(probs, refs)
    pred = decide(probs, threshold)
    out = scores(pred, refs)
    out["threshold"] = float(threshold)
    if len(refs):
        p, r, f, _ = precision_recall_fscore_support(refs, pred, average=None, zero_division=0)
    else:
        p = r = f = np.zeros(len(names))
    support = refs.sum(axis=0)
    out["per_label"] = [{"label": name, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                         "support": int(support[i])} for i, name in enumerate(names)]
    out["baseline"] = baseline(train_labels, refs, names)
    out["labels"] = names
    out["n_examples"] = len(refs)
    out["labels_per_row"] = {"true": round(float(refs.sum(axis=1).mean()), 3) if len(refs) else 0.0,
                             "predicted": round(float(pred.sum(axis=1).mean()), 3) if len(refs) else 0.0}
    return out


def baseline(train_labels: list[list[int]] | None, refs: np.ndarray, names: list[str]) -> dict:
    """Every row given the label set most common among the training rows (the references' own when none given)."""
    sets = Counter(tuple(sorted(ids)) for ids in train_labels) if train_labels else \
        Counter(tuple(np.flatnonzero(row).tolist()) for row in refs)
    top = sets.most_common(1)[0][0] if sets else ()
    pred = np.zeros_like(refs, dtype=bool)
    pred[:, list(top)] = True
    shown = "; ".join(names[i] for i in top)
    return {"name": f"most common label set ('{shown}')", **scores(pred, refs)}


# ---- the classical floor ---------------------------------------------------------------------------------------
class ClassicalMultiLabel:
    """TF-IDF features (tuner.classical's, suited to how the text is written) + one logistic regression per label,
    fitted once on the training rows (at most tuner.classical's MAX_ROWS rows and MAX_CHARS characters)."""

    def __init__(self, texts: list[str], label_ids: list[list[int]], n_labels: int, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        from ...classical import MAX_CHARS, MAX_ROWS, make_pipeline, rows_to_fit
        from ...language import spaced_text

        self.rows = len(texts)
        n = rows_to_fit(texts, MAX_ROWS, MAX_CHARS)
        if n < len(texts):
            keep = sorted(np.random.default_rng(seed).permutation(len(texts))[:n].tolist())
            texts, label_ids = [texts[i] for i in keep], [label_ids[i] for i in keep]
        self.fit_rows = len(texts)
        kind = "word + character n-grams" if spaced_text(texts) else "character n-grams"
        self.name = f"TF-IDF {kind} + one-vs-rest logistic regression"
        if self.fit_rows < self.rows:
            self.name += f", fitted on {self.fit_rows:,} of {self.rows:,} training rows"
        pipeline = make_pipeline(texts)  # its features; the linear SVM gives no probabilities, so it is replaced
        pipeline.steps[-1] = ("classifier", OneVsRestClassifier(LogisticRegression(C=10.0, solver="liblinear")))
        t0 = time.perf_counter()
        self.pipeline = pipeline.fit(texts, multi_hot(label_ids, n_labels).astype(np.int8))
        self.fit_seconds = time.perf_counter() - t0

    def probs(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.predict_proba(list(texts)) if texts else np.zeros((0, 0))


def classical_floor(splits, texts=None, refs=None) -> dict:
    """{"classical": scores} of `ClassicalMultiLabel`, its threshold chosen on the validation rows, scored on them
    (or on `texts` / `refs`, label ids per row, e.g. an evaluation file); {} when it cannot be fitted."""
    n = len(splits.meta["labels"])
    try:
        model = ClassicalMultiLabel(splits.train["text"], splits.train["labels"], n)
        vtexts = splits.validation["text"]
        threshold = (choose_threshold(model.probs(vtexts), multi_hot(splits.validation["labels"], n)) if vtexts
                     else DEFAULT_THRESHOLD)
        texts = vtexts if texts is None else list(texts)
        refs = splits.validation["labels"] if refs is None else refs
        pred = decide(model.probs(texts), threshold) if texts else np.zeros((0, n), dtype=bool)
        found = scores(pred, multi_hot(refs, n))
    except Exception:  # a floor that cannot be drawn leaves the report without it
        log.exception("the classical multi-label baseline could not be fitted")
        return {}
    return {"classical": {"name": model.name, "fit_seconds": round(model.fit_seconds, 2), "fit_rows": model.fit_rows,
                          "threshold": threshold, **found}}


# ---- the task's hooks ------------------------------------------------------------------------------------------
def _pts(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


class MultiLabelMetrics:
    """compute_metrics, report_from_output, classical_floor, evaluate_file, summarize, report_notes
    (tuner.tasks.base.Task), and the report."""

    def compute_metrics(self, meta: dict):
        return compute_metrics(meta)

    def report_from_output(self, output, splits) -> dict:
        """The report for a `Trainer.predict` output on the validation split; its threshold also goes into the meta."""
        out = report(sigmoid(output.predictions), output.label_ids, splits.meta, train_labels=splits.train["labels"])
        splits.meta["threshold"] = out["threshold"]
        return out

    def report(self, probs, refs, meta: dict, train_labels=None, threshold: float | None = None) -> dict:
        return report(probs, refs, meta, train_labels, threshold)

    def classical_floor(self, splits, texts=None, refs=None) -> dict:
        return classical_floor(splits, texts, refs)

    def evaluate_file(self, predictor, path) -> dict:
        """Score a labelled file with the same report as training's evaluation, at the run's own threshold, beside
        the classical floor refitted on the run's training rows, with the verdict."""
        meta = predictor.meta
        df = self.read(path).df
        cols, label_col = self.matching_columns(df, meta.get("text_columns", []), meta.get("label_column", ""))
        rows = self.extract(df, cols, label_col, source="evaluation file", known_labels=meta["labels"],
                            known_from="the model's training data")
        index = {n: i for i, n in enumerate(meta["labels"])}
        refs = [[index[lab] for lab in labs] for labs in rows.labels]
        found = predictor.predict(rows.texts)
        probs = np.array([[p[n] for n in meta["labels"]] for p in found]).reshape(-1, len(index))
        out = report(probs, multi_hot(refs, len(index)), meta, threshold=threshold_of(meta))
        out.update(predictor.classical_floors(rows.texts, refs))
        if rows.skipped:
            out["left_out"] = rows.skipped.as_report()
        return predictor.with_verdict(out)

    def report_notes(self, report: dict) -> str:
        """The Evaluate tab's words on what its headline table leaves out: samples F1 beside the floors, the
        threshold and how many labels a row gets."""
        floors = [(f.get("name", key), f.get("samples_f1")) for key in ("classical", "baseline")
                  if isinstance(f := report.get(key), dict) and isinstance(f.get("samples_f1"), (int, float))]
        beside = "; ".join(f"{name} {_pts(score)}" for name, score in floors)
        out = f" Samples F1 (each row's label set, averaged): {_pts(report.get('samples_f1'))}"
        out += f" ({beside})." if beside else "."
        if isinstance(report.get("threshold"), (int, float)):
            out += (f" A label is given at probability {report['threshold']:.2f} or more (the threshold chosen on "
                    "the validation rows), and a row with none over it gets its most likely label.")
        per_row = report.get("labels_per_row") or {}
        if per_row:
            out += f" Labels per row: {per_row.get('predicted', 0):.2f} predicted, {per_row.get('true', 0):.2f} true."
        return out

    def summarize(self, report: dict) -> str:
        """The CLI's text: micro / macro / samples F1, subset accuracy, precision and recall beside each floor, the
        threshold, the per-label rows and the verdict."""
        floors = [(key, report[key]) for key in ("classical", "baseline") if isinstance(report.get(key), dict)]
        titles = {"classical": "classical", "baseline": self.baseline_title}
        lines = [f"{'':>16}  {'finetuned':>10}" + "".join(f"  {titles[k]:>10}" for k, _ in floors)]
        for key in ("micro_f1", "macro_f1", "samples_f1", "accuracy", "precision", "recall"):
            if isinstance(report.get(key), (int, float)):
                lines.append(f"{key:>16}  {report[key]:>10.4f}" + "".join(f"  {_pts(f.get(key)):>10}" for _, f in floors))
        for key, floor in floors:
            took = f", fitted in {floor['fit_seconds']:.1f} s" if floor.get("fit_seconds") is not None else ""
            lines.append(f"{'classical baseline' if key == 'classical' else 'baseline'}: {floor.get('name', '')}{took}")
        if isinstance(report.get("threshold"), (int, float)):
            lines.append(f"threshold: {report['threshold']:.2f} (a label is given at this probability or more)")
        for row in report.get("per_label", []):
            lines.append(f"  {row['label'][:24]:>24}  P {row['precision']:.3f}  R {row['recall']:.3f}  "
                         f"F1 {row['f1']:.3f}  n={row['support']}")
        verdict = (report.get("verdict") or {}).get("sentence")
        if verdict:
            lines.append(f"verdict: {verdict}")
        return "\n".join(lines)
