"""The classifier's scores: accuracy and macro F1 during training; the report (per label, confusion matrix, the
majority-class baseline, the classical TF-IDF floor) for the validation split or a labelled file."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..common import Splits


class ClassificationMetrics:
    """compute_metrics, report_from_output, classical_floor, evaluate_file (tuner.tasks.base.Task), and the report."""

    def headline_metrics(self, preds, refs, n_labels: int) -> dict:
        from ... import metrics

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

    def report(self, preds, refs, meta: dict, train_labels: list[int] | None = None) -> dict:
        """Headline metrics, a per-label report, the confusion matrix and the majority-class baseline."""
        from ... import metrics

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
        from ...classical import classical_scores

        texts = splits.validation["text"] if texts is None else texts
        refs = splits.validation["label"] if refs is None else refs
        scores = classical_scores(self, splits.train["text"], splits.train["label"], texts, refs, len(splits.meta["labels"]))
        return {"classical": scores} if scores else {}

    def rows_per_label(self, splits: Splits) -> dict[str, int]:
        """{label: training rows} (the verdict's advice names labels with too few rows)."""
        labels = splits.meta.get("labels") or []
        if "label" not in splits.train or not labels:
            return {}
        counts = Counter(splits.train["label"])
        return {str(labels[i]): int(counts.get(i, 0)) for i in range(len(labels))}

    def evaluate_file(self, predictor, path) -> dict:
        """Score a labelled file with the same report as training's evaluation, beside the classical floor
        refitted on the run's own training rows, with the verdict."""
        df = self.read(path).df
        meta = predictor.meta
        cols, label_col = self.matching_columns(df, meta.get("text_columns", []), meta.get("label_column", ""))
        names = list(meta.get("labels", []))
        # Rows with no text, no label or a label the model was not trained on are left out and counted.
        texts, labels, skipped = self.extract(df, cols, label_col, source="evaluation file", known_labels=names,
                                              known_from="the model's training data")
        index = {n: i for i, n in enumerate(names)}
        probs = predictor.predict(texts)
        preds = [index[next(iter(p))] for p in probs]
        refs = [index[x] for x in labels]
        report = self.report(preds, refs, meta)
        report.update(predictor.classical_floors(texts, refs))
        if skipped:
            report["left_out"] = skipped.as_report()
        return predictor.with_verdict(report)
