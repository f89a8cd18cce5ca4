"""Named-entity tagging: tokens -> one BIO tag per token (token classification).

Data: CoNLL files (token ... tag per line, blank line between sentences), JSON/JSONL records with `tokens` +
`tags` lists, JSON/JSONL records with `text` + character spans ({start, end, label} or [start, end, label]),
and tables whose token and tag columns hold space-joined strings, read by `tuner.tasks.ner_reading`. Tag
schemes are detected and converted to BIO (`tuner.tag_schemes`).

Model: a token-classification head on the base model; the first sub-token of every word carries the word's
label, the other sub-tokens are ignored in the loss (-100). Decoding is Viterbi under the BIO constraints (no
I-X after O or after another type), used alike during training, evaluation and prediction
(`tuner.tasks.ner_tagging`).

Case feature: uncased models (the bundled MiniLM lowercases everything) cannot see capital letters, the
strongest single clue for names. Where the model has a token-type embedding (BERT family) and
`data.case_feature` is on, every sub-token carries its word's shape as its token type (0 lower case or no
letters, 1 Capitalised, 2 ALL CAPS); the embedding gets a third row and is trained with the head. The flag
is saved with the adapter, and prediction rebuilds the same model and inputs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from .. import data as data_mod
from .. import tag_schemes as ts
from ..errors import DataError
from . import register
from .classification import Splits, _stats
from .ner_reading import (
    JSON_EXTENSIONS,
    Sentences,
    cell_list,
    column_kind,
    extract_sentences,
    propose_columns,
    read_file,
)
from .ner_tagging import (
    CASE_TYPES,
    add_case_rows,
    case_ids,
    check_fast,
    entity_result,
    first_subtoken_labels,
    tag_words,
)

FEW_SENTENCES = 200
FEW_PER_TYPE = 5
BASELINE_MAX_WORDS = 8


class NerTask:
    name = "ner"
    title = "Named-entity tagging"
    demo = "tagger"
    selection_metric = "f1"  # entity-level micro F1 on the validation split picks the best checkpoint
    headline_metric = "f1"   # what the verdict compares (tuner/verdict.py)
    floors = ("baseline",)        # report key of what the model must beat
    column_roles = {"text_columns": "Tokens column", "label_column": "Tags column"}
    peft_task_type = "TOKEN_CLS"
    prediction_suffix = ".jsonl"  # `predict --file` writes JSON Lines {text, entities, tokens, tags}

    # ---- reading -------------------------------------------------------------------------------------------
    def read(self, path) -> data_mod.Table:
        """CoNLL (by extension or by content), else the generic table reader (JSON/JSONL keep list cells)."""
        return read_file(path)

    def propose(self, df) -> dict:
        return propose_columns(df)

    def matching_columns(self, df, text_columns: list[str], label_column: str) -> tuple[list[str], str]:
        """Columns of a second file: the training names where present, else detected the same way."""
        if all(c in df.columns for c in [*text_columns, label_column]):
            return list(text_columns), label_column
        proposal = self.propose(df)
        texts = [c for c in text_columns if c in df.columns] or proposal["text_columns"]
        label = label_column if label_column in df.columns else proposal["label_column"]
        return texts, label

    def extract(self, df, text_columns: list[str], label_column: str, source: str = "training file",
                scheme: str = "auto", repair: bool = False, strict: bool = False) -> Sentences:
        """Tagged sentences in BIO from a table; unusable sentences left out and counted in `.skipped`."""
        return extract_sentences(df, text_columns, label_column, source, scheme, repair, strict)

    def check_validation(self, vdf, info: dict, cfg):
        """The Data tab's look at a validation file, by the same rules as training will read it: (rows, skipped)."""
        vcols, vlabel = self.matching_columns(vdf, info["text_columns"], info["label_column"])
        val = self.extract(vdf, vcols, vlabel, source="validation file", scheme=cfg.data.tag_scheme,
                           repair=cfg.data.repair_tags, strict=cfg.data.strict)
        val.drop_unknown_types(set(info["label_counts"]), "the training file", cfg.data.strict)
        return len(val.tokens), val.skipped

    # ---- statistics and warnings ---------------------------------------------------------------------------
    def _warnings(self, sents: Sentences, max_length: int, source: str = "training file") -> list[str]:
        out = []
        if sents.problems:
            if sents.repaired:
                out.append(f"Repaired {sents.problems} tag(s) that broke the {sents.scheme} scheme (first at {sents.first_problem}): each now starts an entity.")
            else:
                out.append(f"{sents.problems} tag(s) in the {source} break the {sents.scheme} scheme (first at {sents.first_problem}); "
                           "they are read as the start of an entity, or set data.repair_tags=true to rewrite them as B- tags.")
        if sents.dropped:
            out.append(f"Skipped {sents.dropped} empty row(s) with no tokens.")
        n = len(sents.tokens)
        if n < FEW_SENTENCES:
            out.append(f"Only {n} sentences: expect weak results; a few thousand tagged sentences help.")
        types = sents.types()
        rare = [t for t, c in types.items() if c < FEW_PER_TYPE]
        if rare:
            out.append(f"{len(rare)} entity type(s) have fewer than {FEW_PER_TYPE} examples (e.g. '{rare[0]}'); the model will rarely find them.")
        too_long = sum(1 for toks in sents.tokens if int(len(toks) * 1.3) + 2 > max_length)
        if too_long:
            out.append(f"About {too_long} sentences are longer than the max length of {max_length} tokens; training sees only their start (prediction splits long texts, so nothing is lost there).")
        return out

    def inspect(self, df, cfg) -> dict:
        proposal = self.propose(df)
        text_columns = list(cfg.data.text_columns) or proposal["text_columns"]
        label_column = cfg.data.label_column or proposal["label_column"]
        sents = self.extract(df, text_columns, label_column, scheme=cfg.data.tag_scheme, repair=cfg.data.repair_tags,
                             strict=cfg.data.strict)
        types = sents.types()
        chars = np.array([len(t) for t in sents.texts] if sents.texts else [len(" ".join(t)) for t in sents.tokens])
        words = np.array([len(t) for t in sents.tokens])
        return {
            "task": self.name, "rows": len(sents.tokens), "text_columns": text_columns, "label_column": label_column,
            "label_counts": dict(sorted(types.items(), key=lambda kv: -kv[1])),
            "length_chars": _stats(chars), "length_tokens_approx": _stats(words),
            "warnings": sents.skipped.warnings() + self._warnings(sents, cfg.model.max_length), "skipped": sents.skipped,
            "scheme": sents.scheme, "tokens": int(words.sum()), "entities": sum(types.values()),
            "inconsistent_tags": sents.problems,
        }

    # ---- splits --------------------------------------------------------------------------------------------
    def load_splits(self, cfg) -> Splits:
        table = self.read(cfg.data.train_file)
        warnings = list(table.warnings)
        proposal = self.propose(table.df)
        text_columns = list(cfg.data.text_columns) or proposal["text_columns"]
        label_column = cfg.data.label_column or proposal["label_column"]
        train = self.extract(table.df, text_columns, label_column, scheme=cfg.data.tag_scheme, repair=cfg.data.repair_tags,
                             strict=cfg.data.strict)
        warnings += train.skipped.warnings() + self._warnings(train, cfg.model.max_length)
        lists = [train.skipped]
        tokens, tags = train.tokens, train.tags
        rng = np.random.default_rng(cfg.seed)
        if cfg.data.max_train_rows and len(tokens) > cfg.data.max_train_rows:
            keep = sorted(rng.choice(len(tokens), cfg.data.max_train_rows, replace=False).tolist())
            tokens, tags = [tokens[i] for i in keep], [tags[i] for i in keep]
        if cfg.data.validation_file:
            vtable = self.read(cfg.data.validation_file)
            vcols, vlabel = self.matching_columns(vtable.df, text_columns, label_column)
            val = self.extract(vtable.df, vcols, vlabel, source="validation file", scheme=cfg.data.tag_scheme,
                               repair=cfg.data.repair_tags, strict=cfg.data.strict)
            val.drop_unknown_types(set(train.types()), "the training file", cfg.data.strict)
            warnings += vtable.warnings + val.skipped.warnings()
            lists.append(val.skipped)
            vtokens, vtags = val.tokens, val.tags
        else:
            order = rng.permutation(len(tokens)).tolist()
            n_val = max(1, int(round(len(tokens) * data_mod.held_out_share(cfg.data, len(tokens))))) if len(tokens) >= 2 else 0
            va, tr = sorted(order[:n_val]), sorted(order[n_val:])
            vtokens, vtags = [tokens[i] for i in va], [tags[i] for i in va]
            tokens, tags = [tokens[i] for i in tr], [tags[i] for i in tr]
        # Shortest first: the Trainer's evaluation batches are then padded to similar lengths (about 3x less
        # work than file order); every score is order-free.
        by_length = sorted(range(len(vtokens)), key=lambda i: len(vtokens[i]))
        vtokens, vtags = [vtokens[i] for i in by_length], [vtags[i] for i in by_length]
        types = sorted(train.types())
        labels = ts.label_list(types)
        index = {n: i for i, n in enumerate(labels)}
        case = bool(cfg.data.case_feature)
        meta = {"task": self.name, "labels": labels, "types": types, "scheme": train.scheme,
                "text_columns": text_columns, "label_column": label_column, "case_feature": case}

        def ids(seqs):  # an entity type seen only in the dropped/sampled-out rows cannot happen: types come from all rows
            return [[index[t] for t in s] for s in seqs]

        return Splits(
            train={"tokens": tokens, "tags": ids(tags), "case_feature": case},
            validation={"tokens": vtokens, "tags": ids(vtags), "case_feature": case},
            meta=meta, warnings=warnings, skipped=[x for x in lists if x],
        )

    # ---- model ---------------------------------------------------------------------------------------------
    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None, **config_overrides):
        from transformers import AutoModelForTokenClassification

        from ..models import load_pretrained

        names = meta["labels"]
        kwargs = {"dtype": dtype} if dtype is not None else {}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        kwargs.update(config_overrides)  # e.g. dropout probabilities set to 0 by train.py
        model = load_pretrained(
            AutoModelForTokenClassification, source, num_labels=len(names),
            id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}, **kwargs,
        )
        if meta.get("case_feature"):
            add_case_rows(model)
        return model

    def modules_to_save(self, model) -> list[str]:
        """The new head is trained in full, and so is the token-type embedding that carries the case feature
        (CASE_TYPES x hidden values) when the model has one."""
        names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        keep = [m for m in ("classifier", "score") if m in names]
        if getattr(model.config, "type_vocab_size", 0) >= CASE_TYPES and "token_type_embeddings" in names:
            keep.append("token_type_embeddings")
        return keep

    def encode(self, split: dict, tokenizer, max_length: int):
        """Sub-word tokens; the first sub-token of each word gets the word's tag id, the rest -100. Tokenized
        ENCODE_BATCH sentences at a time into an Arrow table (tuner.tasks.classification.map_batches)."""
        from datasets import Dataset

        from .classification import map_batches

        check_fast(tokenizer)
        if not split["tokens"]:
            return Dataset.from_dict({"input_ids": [], "attention_mask": [], "labels": []})

        def tokenize(batch):
            enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            case = split.get("case_feature") and "token_type_ids" in enc
            labels, types = [], []
            for i, tags in enumerate(batch["tags"]):
                word_ids = enc.word_ids(i)
                labels.append(first_subtoken_labels(word_ids, tags))
                if case:
                    types.append(case_ids(batch["tokens"][i], word_ids))
            columns = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
            if "token_type_ids" in enc:
                columns["token_type_ids"] = types if case else enc["token_type_ids"]
            return columns

        return map_batches(Dataset.from_dict({"tokens": split["tokens"], "tags": split["tags"]}), tokenize,
                           ["tokens", "tags"])

    def collator(self, tokenizer):
        from transformers import DataCollatorForTokenClassification

        # No pad_to_multiple_of: on a CPU every padded position costs time and buys nothing.
        return DataCollatorForTokenClassification(tokenizer)

    # ---- metrics -------------------------------------------------------------------------------------------
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
        from .. import models

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

    # ---- inference -----------------------------------------------------------------------------------------
    def predict(self, model, tokenizer, texts: list[str], meta: dict, max_length: int, batch_size: int = 64):
        """Entities of each text: {"text", "entities": [{start, end, label, text, score}], "tokens", "tags"}."""
        words, offsets = [], []
        for text in texts:
            offs = ts.word_offsets(text)
            offsets.append(offs)
            words.append([text[a:b] for a, b in offs])
        tagged = tag_words(model, tokenizer, words, meta, max_length, batch_size)
        return [entity_result(text, w, offs, tags, probs) for text, w, offs, (tags, probs) in zip(texts, words, offsets, tagged)]

    def format_prediction(self, text: str, prediction: dict) -> str:
        """The text, then one line per entity: character span, type, confidence, the entity's words."""
        lines = [text[:200]]
        for e in prediction["entities"]:
            lines.append(f"  {e['start']}-{e['end']}\t{e['label']}\t{e['score']:.4f}\t{e['text']}")
        if not prediction["entities"]:
            lines.append("  (no entities)")
        return "\n".join(lines)

    def predict_file(self, predictor, path, out_path, text_columns=None) -> dict:
        """Tag every sentence/text of a file; writes JSON Lines {text, entities[, tokens, tags]}.

        Accepts CoNLL or token-list files (tags, if present, are ignored), tables/JSONL with a text column,
        and plain text with one text per line."""
        from ..inference import MAX_FILE_ROWS, _bounded

        path = Path(path)
        rows = self._file_inputs(path, predictor.meta, text_columns)
        if len(rows) > MAX_FILE_ROWS:
            raise DataError(f"The file has {len(rows):,} rows; tagging takes at most {MAX_FILE_ROWS:,} per file.")
        pretok = [r for r in rows if isinstance(r, list)]
        if pretok:  # on the compute thread, one forward at a time per loaded model
            tagged = predictor.compute(tag_words, predictor.model, predictor.tokenizer, rows, predictor.meta, predictor.max_length)
        else:
            texts = [_bounded(r) for r in rows]
            results = predictor.compute(self.predict, predictor.model, predictor.tokenizer, texts, predictor.meta,
                                        predictor.max_length)
        counts: Counter = Counter()
        out_path = Path(out_path)
        with open(out_path, "w", encoding="utf-8") as fh:
            for k in range(len(rows)):
                if pretok:
                    text, offs = ts.join_tokens(rows[k])
                    res = entity_result(text, rows[k], offs, *tagged[k])
                else:
                    res = results[k]
                counts.update(e["label"] for e in res["entities"])
                fh.write(json.dumps(res, ensure_ascii=False) + "\n")
        return {"rows": len(rows), "path": str(out_path), "label_counts": dict(counts.most_common())}

    def _file_inputs(self, path: Path, meta: dict, text_columns=None) -> list:
        """Token lists (CoNLL / token-list data) or texts (a text column, or one text per line)."""
        if path.suffix.lower() not in (".parquet", *JSON_EXTENSIONS, *data_mod.CONLL_EXTENSIONS, ".csv", ".tsv"):
            raw = path.read_bytes()[: data_mod.max_upload_bytes() + 1]
            text, _ = data_mod.decode_bytes(raw, data_mod.display_name(path))
            if not data_mod.looks_like_conll(text) and text.lstrip()[:1] not in ("{", "["):
                lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
                if not lines:
                    raise DataError("The file has no text (0 usable rows); put one text per line.")
                return lines
        df = self.read(path).df
        cols = list(text_columns or [])
        if not cols:
            cols = [c for c in meta.get("text_columns", []) if c in df.columns]
        if not cols:
            cols = self.propose(df)["text_columns"]
        if not cols:
            kinds = {c: column_kind(df[c]) for c in df.columns}
            cols = [next((c for c in df.columns if kinds[c] in ("tokens", "str")), None)]
        col = cols[0]
        if col is None or col not in df.columns:
            raise DataError(f"The file has no column '{col or 'text'}'; it needs a text column (or a tokens column) like the training data.")
        values = df[col].tolist()
        if column_kind(df[col]) in ("tokens", "taglist"):
            return [cell_list(v, "tokens", f"Row {i + 1}") for i, v in enumerate(values)]
        return ["" if v is None else str(v) for v in values]

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
        from ..errors import TunerError

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
    from .. import metrics

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


TASK = register(NerTask())
