"""The tagger's error analysis (tuner.analysis.mistakes): the validation sentences with the most entity errors, worst
first, each span marked, and the error kinds counted over all of them.

Spans are read from the tags as the task's seqeval metric reads them (`schemes.bio_to_spans`, exact match), so a
sentence's missed spans are the metric's false negatives (in the reference, not predicted with the same words and
type) and its spurious spans the false positives (predicted, not in the reference): summed over the sentences they
give back the Evaluate tab's precision and recall. Each error is then named once for a person:

    missed      a reference entity with no predicted entity on any of its words
    wrong_type  a predicted entity on exactly its words, of another type ("ORG read as LOC")
    boundary    predicted entities overlap it, none on exactly its words (one word too many or too few)
    spurious    a predicted entity that overlaps no reference entity
    correct     a reference entity predicted exactly (marked too, so a sentence reads whole)
"""

from __future__ import annotations

from collections import Counter

from . import schemes as ts
from .tagging import tag_words

MAX_SENTENCES = 2000  # sentences kept with their marks (worst first); the counts cover every one
ERROR_KINDS = ("missed", "wrong_type", "boundary", "spurious")
# Each kind of error in words, filled with a mark's or a kind count's "true" / "predicted" type (the CLI prints them,
# the page says them in its language: the templates are tuner/ui/zh.py's keys).
ERROR_WORDS = {"missed": "missed {true}", "wrong_type": "{true} read as {predicted}",
               "boundary": "{true} with other boundaries", "spurious": "spurious {predicted}"}


def segments(row: dict) -> list[tuple[str, dict | None]]:
    """A sentence of an "entities" view in word order: (words, None) between entities, (words, mark) for each mark
    (reference entities and spurious predictions never overlap)."""
    tokens, out, i = row["tokens"], [], 0
    for mark in row["marks"]:
        out += [(t, None) for t in tokens[i:mark["start"]]]
        out.append((" ".join(tokens[mark["start"]:mark["end"]]), mark))
        i = mark["end"]
    return out + [(t, None) for t in tokens[i:]]


def sentence_errors(tokens: list[str], ref: list[str], pred: list[str]) -> dict:
    """One sentence's spans compared: {missed, spurious: [[type, start, end]] (seqeval's false negatives and
    positives, end exclusive), marks: [{kind, start, end, true, predicted, text[, predicted_spans: [{type, text}]
    (boundary)]}] in word order,
    errors (marks that are errors), types (entity types the errors involve)}."""
    refs = [tuple(s) for s in ts.bio_to_spans(ref)]
    preds = [tuple(s) for s in ts.bio_to_spans(pred)]
    exact = set(refs) & set(preds)
    missed = [s for s in refs if s not in exact]
    spurious = [s for s in preds if s not in exact]
    words = lambda s, e: " ".join(tokens[s:e])  # noqa: E731
    marks, explained = [], set()
    for t, s, e in refs:
        if (t, s, e) in exact:
            marks.append({"kind": "correct", "start": s, "end": e, "true": t, "predicted": t, "text": words(s, e)})
            continue
        over = [p for p in spurious if p[1] < e and s < p[2]]
        explained.update(over)
        same = next((p for p in over if (p[1], p[2]) == (s, e)), None)
        mark = {"kind": "missed", "start": s, "end": e, "true": t, "predicted": None, "text": words(s, e)}
        if same is not None:
            mark.update(kind="wrong_type", predicted=same[0])
        elif over:
            mark.update(kind="boundary", predicted=over[0][0],
                        predicted_spans=[{"type": p[0], "text": words(p[1], p[2])} for p in over])
        marks.append(mark)
    for t, s, e in spurious:
        if (t, s, e) not in explained:
            marks.append({"kind": "spurious", "start": s, "end": e, "true": None, "predicted": t, "text": words(s, e)})
    marks.sort(key=lambda m: m["start"])
    errors = [m for m in marks if m["kind"] != "correct"]
    return {"missed": [list(s) for s in missed], "spurious": [list(s) for s in spurious], "marks": marks,
            "errors": len(errors), "types": sorted({x for m in errors for x in (m["true"], m["predicted"]) if x})}


def error_kinds(rows: list[dict]) -> list[dict]:
    """The errors of every sentence by kind and types, most spans first: {kind, true, predicted, spans}."""
    counts = Counter((m["kind"], m["true"] or "", (m["predicted"] or "") if m["kind"] in ("wrong_type", "spurious") else "")
                     for r in rows for m in r["marks"] if m["kind"] != "correct")
    return [{"kind": k, "true": t or None, "predicted": p or None, "spans": n}
            for (k, t, p), n in sorted(counts.items(), key=lambda kv: (-kv[1], ERROR_KINDS.index(kv[0][0]), kv[0]))]


def rank_sentences(tokens, refs, preds, places=None) -> dict:
    """Every sentence whose predicted spans differ from the reference, the most errors first, and the totals.
    `places`: where each sentence is in its file ('line 1,204'), kept as each row's "place"."""
    rows, n_ref, n_pred = [], 0, 0
    for k, (toks, ref, pred) in enumerate(zip(tokens, refs, preds)):
        found = sentence_errors(toks, ref, pred)
        right = sum(m["kind"] == "correct" for m in found["marks"])  # the exact matches
        n_ref += right + len(found["missed"])
        n_pred += right + len(found["spurious"])
        if found["errors"]:
            rows.append({"sentence": k, "place": places[k] if places else f"sentence {k + 1}", "tokens": list(toks),
                         **found})
    rows.sort(key=lambda r: (-r["errors"], -(len(r["missed"]) + len(r["spurious"])), r["sentence"]))
    n_missed = sum(len(r["missed"]) for r in rows)
    n_spurious = sum(len(r["spurious"]) for r in rows)
    return {"kind": "entities", "n_validation": len(refs), "n_wrong": len(rows), "n_entities": n_ref,
            "n_predicted": n_pred, "n_missed": n_missed, "n_spurious": n_spurious,
            "precision": (n_pred - n_spurious) / n_pred if n_pred else 0.0,
            "recall": (n_ref - n_missed) / n_ref if n_ref else 0.0,
            "kinds": error_kinds(rows), "rows": rows[:MAX_SENTENCES]}


class NerAnalysis:
    """analysis_splits, mistakes (tuner.tasks.base.Task)."""

    analyses = ("mistakes",)
    mistakes_kind = "entities"

    def analysis_splits(self, cfg):
        return self.load_splits(cfg, positions=True)

    def mistakes(self, predictor, split: dict, meta: dict) -> dict:
        """The validation sentences tagged by the run's model (whole sentences, Viterbi, as the evaluation does)."""
        labels = list(meta["labels"])
        refs = [[labels[j] for j in s] for s in split["tags"]]
        tagged = predictor.compute(tag_words, predictor.model, predictor.tokenizer, split["tokens"], predictor.meta,
                                   predictor.max_length)
        found = rank_sentences(split["tokens"], refs, [tags for tags, _ in tagged], split.get("place"))
        return {**found, "types": list(meta["types"])}
