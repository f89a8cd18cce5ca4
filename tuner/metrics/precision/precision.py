"""Precision for classification (binary, micro, macro, weighted or per label); shipped locally, no hub."""

import datasets
import evaluate
from sklearn.metrics import precision_score

_DESCRIPTION = "Precision computed with scikit-learn's precision_score."
_KWARGS_DESCRIPTION = "predictions, references (lists of int), labels, pos_label, average ('binary', 'micro', 'macro', 'weighted' or None for per label), sample_weight, zero_division."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Precision(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None, zero_division=0):
        score = precision_score(references, predictions, labels=labels, pos_label=pos_label, average=average,
                      sample_weight=sample_weight, zero_division=zero_division)
        return {"precision": score.tolist() if hasattr(score, "tolist") and getattr(score, "ndim", 0) else float(score)}
