"""Corpus BLEU-4 with brevity penalty and add-one smoothing (shipped locally; no hub, no extra packages).

Papineni et al. (2002): clipped n-gram matches and candidate n-gram counts are summed over the whole corpus
for n = 1..4; the score is BP * exp(mean log p_n), with BP = exp(1 - ref_len / pred_len) when the predictions
are shorter than the references. Smoothing (Lin & Och 2004, as in the `evaluate` hub module with
smooth=True) adds one to every n-gram numerator and denominator, so short answers do not score exactly 0.
Text is split like sacreBLEU's 13a tokenizer: punctuation becomes separate tokens.
"""

import math
import re
from collections import Counter

import datasets
import evaluate

_DESCRIPTION = "Corpus BLEU (n-grams 1..4, brevity penalty, optional add-one smoothing)."
_KWARGS_DESCRIPTION = ("predictions (list of str), references (list of str, or list of lists of str), max_order (int, 4), "
                       "smooth (bool, True). Returns {'bleu', 'precisions', 'brevity_penalty', 'length_ratio', "
                       "'translation_length', 'reference_length'}.")
_PUNCT = re.compile(r"([^\w\s])", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _PUNCT.sub(r" \1 ", text).split()


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(predictions, references, max_order: int = 4, smooth: bool = True) -> dict:
    matches, possible = [0] * max_order, [0] * max_order
    pred_len = ref_len = 0
    for pred, refs in zip(predictions, references):
        refs = [refs] if isinstance(refs, str) else list(refs)
        p = tokenize(pred)
        ref_toks = [tokenize(r) for r in refs]
        pred_len += len(p)
        # closest reference length (ties: the shorter), as in the original definition
        ref_len += min((abs(len(r) - len(p)), len(r)) for r in ref_toks)[1] if ref_toks else 0
        for n in range(1, max_order + 1):
            cand = ngrams(p, n)
            best: Counter = Counter()
            for r in ref_toks:
                best |= ngrams(r, n)
            matches[n - 1] += sum(min(c, best[g]) for g, c in cand.items())
            possible[n - 1] += max(0, len(p) - n + 1)
    if smooth:
        precisions = [(m + 1.0) / (c + 1.0) for m, c in zip(matches, possible)]
    else:
        precisions = [m / c if c else 0.0 for m, c in zip(matches, possible)]
    geo = math.exp(sum(math.log(p) for p in precisions) / max_order) if min(precisions) > 0 else 0.0
    ratio = pred_len / ref_len if ref_len else 0.0
    bp = 1.0 if ratio > 1.0 else (math.exp(1 - 1 / ratio) if ratio > 0 else 0.0)
    return {"bleu": geo * bp, "precisions": precisions, "brevity_penalty": bp, "length_ratio": ratio,
            "translation_length": pred_len, "reference_length": ref_len}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references, max_order=4, smooth=True):
        return corpus_bleu(predictions, references, max_order=max_order, smooth=smooth)
