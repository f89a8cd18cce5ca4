"""Entity-level precision, recall and F1 for tag sequences; shipped locally, no hub, no seqeval dependency.

Chunks are read exactly as seqeval's default mode (the conlleval rules): BIO, IOB1 and BIOES tags; an I-X
that does not continue an X chunk starts one. A predicted entity counts as correct only when its type, first
and last token all match a reference entity (exact match). Sentences never share an entity.

Output (the keys of the hub's `seqeval` metric, plus macro averages):
    {TYPE: {"precision", "recall", "f1", "number"}, ...,
     "overall_precision", "overall_recall", "overall_f1"   micro averages over all entities
     "macro_precision", "macro_recall", "macro_f1"         unweighted means over the types that occur in the
                                                           references or the predictions
     "overall_accuracy"}                                   share of tokens whose tag is exactly right
"""

import datasets
import evaluate

_DESCRIPTION = "Entity-level precision/recall/F1 with exact-match chunks (seqeval default mode), plus token accuracy."
_KWARGS_DESCRIPTION = ("predictions, references: lists of tag sequences (lists of strings such as 'B-PER', 'I-PER', "
                       "'O'); zero_division: the value of a ratio whose denominator is 0 (default 0).")


def _split(tag):
    """seqeval's reading of a tag: its first letter and its type ('_' when there is none)."""
    return tag[0], (tag[1:].split("-", maxsplit=1)[-1] or "_")


def _end_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag in ("E", "S")
            or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def _start_of_chunk(prev_tag, tag, prev_type, type_):
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def get_entities(seq):
    """[(type, first, last)] (inclusive) for one tag sequence."""
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate(list(seq) + ["O"]):
        tag, type_ = _split(chunk)
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _ratio(num, den, zero_division):
    return num / den if den else float(zero_division)


def _f1(p, r, zero_division):
    return 2 * p * r / (p + r) if p + r else float(zero_division)


def score(predictions, references, zero_division=0.0):
    """The metric as a plain function (the evaluate module below calls this)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predicted sequences for {len(references)} references")
    true, pred = set(), set()
    correct_tokens = total_tokens = 0
    for k, (p_seq, r_seq) in enumerate(zip(predictions, references)):
        if len(p_seq) != len(r_seq):
            raise ValueError(f"sequence {k}: {len(p_seq)} predicted tags for {len(r_seq)} reference tags")
        true.update((k, *e) for e in get_entities(r_seq))
        pred.update((k, *e) for e in get_entities(p_seq))
        correct_tokens += sum(a == b for a, b in zip(p_seq, r_seq))
        total_tokens += len(r_seq)
    types = sorted({e[1] for e in true} | {e[1] for e in pred})
    out = {}
    for t in types:
        t_true = {e for e in true if e[1] == t}
        t_pred = {e for e in pred if e[1] == t}
        hit = len(t_true & t_pred)
        p = _ratio(hit, len(t_pred), zero_division)
        r = _ratio(hit, len(t_true), zero_division)
        out[t] = {"precision": p, "recall": r, "f1": _f1(p, r, zero_division), "number": len(t_true)}
    hit = len(true & pred)
    p = _ratio(hit, len(pred), zero_division)
    r = _ratio(hit, len(true), zero_division)
    out.update(overall_precision=p, overall_recall=r, overall_f1=_f1(p, r, zero_division),
               overall_accuracy=_ratio(correct_tokens, total_tokens, zero_division))
    for m in ("precision", "recall", "f1"):
        out[f"macro_{m}"] = sum(out[t][m] for t in types) / len(types) if types else float(zero_division)
    return out


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Seqeval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                        "references": datasets.Sequence(datasets.Value("string"))}),
        )

    def _compute(self, predictions, references, zero_division=0.0):
        return score(predictions, references, zero_division)
