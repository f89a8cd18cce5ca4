"""The classifier's hooks for error analysis (tuner.analysis): its rows with their file positions, and the
finetuned model's probabilities as a matrix."""

from __future__ import annotations

import numpy as np


class ClassificationAnalysis:
    """analysis_splits, label_probabilities (tuner.tasks.base.Task)."""

    analyses = ("mistakes", "label_issues")

    def analysis_splits(self, cfg):
        return self.load_splits(cfg, positions=True)

    def label_probabilities(self, predictor, texts: list[str]):
        names = list(predictor.meta["labels"])
        index = {n: i for i, n in enumerate(names)}
        out = np.zeros((len(texts), len(names)), dtype=np.float32)
        for i, scores in enumerate(predictor.predict(texts) if texts else []):
            for label, p in scores.items():
                out[i, index[label]] = p
        return out
