"""ROUGE-L: F-measure of the longest common subsequence of words (shipped locally; no hub, no extra packages).

For each prediction/reference pair, with LCS the length of the longest common word subsequence:
precision = LCS / words in the prediction, recall = LCS / words in the reference, F = 2PR / (P + R);
the score is the mean F over the pairs. Words are lower-cased runs of letters and digits (as rouge-score does).
"""

import re

import datasets
import evaluate

_DESCRIPTION = "ROUGE-L F-measure (longest common subsequence of lower-cased words), averaged over pairs."
_KWARGS_DESCRIPTION = "predictions (list of str), references (list of str). Returns {'rougeL': float in [0, 1]}."
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (dynamic programming over one row)."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    p, r = tokenize(prediction), tokenize(reference)
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        if not predictions:
            return {"rougeL": 0.0}
        return {"rougeL": float(sum(rouge_l(p, r) for p, r in zip(predictions, references)) / len(predictions))}
