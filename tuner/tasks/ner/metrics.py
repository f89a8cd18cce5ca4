"""The tagger's scores: entity-level precision / recall / F1 (seqeval, exact match) after Viterbi decoding, per
entity type, a word-level type confusion matrix, and the dictionary baseline (every training entity, longest match)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..common import Splits
from . import schemes as ts
from .tagging import tag_words

BASELINE_MAX_WORDS = 8


class NerMetrics:
    """compute_metrics, evaluate, evaluate_file (tuner.tasks.base.Task), and the report."""

    def compute_metrics(self, meta: dict):
        labels = meta["labels"]
        start_ok, ok = ts.allowed_transitions(labels)

        def fn(eval_pred):
            logits, label_ids = eval_pred
            preds, refs = [], []
            for lg, lab in zip(logits, label_ids):
                mask = lab != -100
                path = ts.viterbi(_log_softmax(np.asarray(lg[mask], dtype=np.float32)), start_ok, ok)
                preds.append([labels[j] for j in path])
                refs.append([labels[j] for j in lab[mask]])
            s = entity_scores(preds, refs)
            return {"f1": s["overall_f1"], "precision": s["overall_precision"], "recall": s["overall_recall"],
                    "macro_f1": s["macro_f1"], "accuracy": s["overall_accuracy"]}

        return fn

    def evaluate(self, trainer, val_ds, splits: Splits, cfg) -> dict:
        """Score the validation sentences whole (long ones in pieces) with the trained model."""
        from ... import models

        tokenizer = models.load_tokenizer(models.resolve(cfg.model.name))
        labels = splits.meta["labels"]
        model = trainer.model
        model.eval()
        preds = [tags for tags, _ in tag_words(model, tokenizer, splits.validation["tokens"], splits.meta,
                                               cfg.model.max_length, cfg.train.eval_batch_size)]
        refs = [[labels[j] for j in s] for s in splits.validation["tags"]]
        train_tags = [[labels[j] for j in s] for s in splits.train["tags"]]
        baseline = DictionaryBaseline(splits.train["tokens"], train_tags)
        report = self.report(refs, preds, splits.meta, splits.validation["tokens"], baseline)
        losses = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
        report["eval_loss"] = losses[-1] if losses else None
        return report

    def report(self, refs: list[list[str]], preds: list[list[str]], meta: dict, tokens=None, baseline=None) -> dict:
        """Entity-level scores (exact match), per-type rows, a word-level type confusion matrix, a baseline."""
        s = entity_scores(preds, refs)
        types = list(meta["types"])
        out = headline(s)
        out["per_label"] = [
            {"label": t, **{m: s.get(t, {}).get(m, 0.0) for m in ("precision", "recall", "f1")},
             "support": s.get(t, {}).get("number", 0)} for t in types
        ]
        axis = types + ["O"]
        pos = {t: i for i, t in enumerate(axis)}
        matrix = np.zeros((len(axis), len(axis)), dtype=int)
        for r_seq, p_seq in zip(refs, preds):
            for r, p in zip(r_seq, p_seq):
                matrix[pos.get(r[2:] if r != "O" else "O", len(axis) - 1), pos.get(p[2:] if p != "O" else "O", len(axis) - 1)] += 1
        out["confusion_matrix"] = matrix.tolist()
        out["confusion_note"] = "words by entity type (B- and I- merged), O = outside any entity"
        if baseline is not None and tokens is not None:
            out["baseline"] = {"name": baseline.name, **headline(entity_scores([baseline.tag(t) for t in tokens], refs))}
        else:
            out["baseline"] = {"name": "no entities (every word O)", **headline(entity_scores([["O"] * len(r) for r in refs], refs))}
        out["labels"] = axis
        out["n_examples"] = len(refs)
        out["n_tokens"] = int(sum(len(r) for r in refs))
        out["n_entities"] = int(sum(row["support"] for row in out["per_label"]))
        out["scoring"] = "entity-level exact match (seqeval default mode); accuracy = share of words tagged exactly right"
        return out

    def evaluate_file(self, predictor, path) -> dict:
        """Score a tagged file (CoNLL, JSONL, table) with the same report as training's evaluation."""
        meta = predictor.meta
        df = self.read(path).df
        cols, label_col = self.matching_columns(df, meta.get("text_columns", []), meta.get("label_column", ""))
        sents = self.extract(df, cols, label_col, source="evaluation file")
        sents.drop_unknown_types(set(meta["types"]), "the model's training data")
        tagged = predictor.compute(tag_words, predictor.model, predictor.tokenizer, sents.tokens, meta, predictor.max_length)
        preds = [tags for tags, _ in tagged]
        report = self.report(sents.tags, preds, meta, sents.tokens, self._run_baseline(predictor))
        if sents.skipped:
            report["left_out"] = sents.skipped.as_report()
        return report

    def _run_baseline(self, predictor):
        """The dictionary baseline from the run's own training file, when it is still there."""
        from ...errors import TunerError

        try:
            cfg = predictor.run.config()
            table = self.read(cfg.data.train_file)
            sents = self.extract(table.df, list(predictor.meta.get("text_columns", [])),
                                 predictor.meta.get("label_column", ""), scheme=cfg.data.tag_scheme,
                                 repair=cfg.data.repair_tags)
        except (TunerError, OSError):
            return None
        return DictionaryBaseline(sents.tokens, sents.tags)


# ---- metrics helpers -------------------------------------------------------------------------------------------
def _log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def entity_scores(preds, refs) -> dict:
    from ... import metrics

    return metrics.load("seqeval").compute(predictions=preds, references=refs)


def headline(s: dict) -> dict:
    return {"accuracy": s["overall_accuracy"], "precision": s["overall_precision"], "recall": s["overall_recall"],
            "f1": s["overall_f1"], "micro_f1": s["overall_f1"], "macro_f1": s["macro_f1"],
            "macro_precision": s["macro_precision"], "macro_recall": s["macro_recall"]}


class DictionaryBaseline:
    """Tag every word sequence that was an entity in the training data with its most frequent type (longest
    match first, case-sensitive): the classic CoNLL baseline, no model involved."""

    name = "dictionary of training entities (longest match)"

    def __init__(self, tokens: list[list[str]], tags: list[list[str]]):
        counts: dict[tuple, Counter] = {}
        for toks, tg in zip(tokens, tags):
            for t, s, e in ts.bio_to_spans(tg):
                if e - s <= BASELINE_MAX_WORDS:
                    counts.setdefault(tuple(toks[s:e]), Counter())[t] += 1
        self.table = {k: c.most_common(1)[0][0] for k, c in counts.items()}
        self.longest = max((len(k) for k in self.table), default=0)

    def tag(self, tokens: list[str]) -> list[str]:
        out = ["O"] * len(tokens)
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                t = self.table.get(tuple(tokens[i:i + n]))
                if t is not None:
                    out[i:i + n] = [f"B-{t}"] + [f"I-{t}"] * (n - 1)
                    i += n
                    break
            else:
                i += 1
        return out
