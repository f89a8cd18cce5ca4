"""Reading entity-tagging data: CoNLL files, JSON/JSONL token + tag lists or text + character spans, and tables
whose cells hold space-joined tokens and tags. Proposes the tokens and tags columns and turns them into BIO-tagged
sentences, with one sentence naming the line or row for every blocking problem; the task's reading hooks
(`NerReading`: inspect, load_splits) build the Data tab's summary and the training splits from them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import data as data_mod
from ... import skipped as skip
from ...errors import DataError
from ..common import Splits, stats, subset
from . import schemes as ts

TOKEN_NAMES = ["tokens", "words", "token", "word", "forms", "form"]
TAG_NAMES = ["tags", "ner_tags", "ner", "labels", "tag", "label", "bio", "iob"]
TEXT_NAMES = ["text", "sentence", "content", "body", "document", "paragraph"]
SPAN_NAMES = ["spans", "entities", "labels", "label", "ner", "annotations"]
TAG_LIKE = re.compile(data_mod.TAG_LIKE)
JSON_EXTENSIONS = (".json", ".jsonl", ".ndjson")
MAX_TYPES = 200


@dataclass
class Sentences:
    """Tagged sentences read from one file, tags already in BIO."""

    tokens: list[list[str]]
    tags: list[list[str]]
    scheme: str
    problems: int = 0
    first_problem: str = ""
    repaired: bool = False
    dropped: int = 0
    texts: list[str] | None = None  # the original texts (span format)
    notes: list[str] = field(default_factory=list)
    skipped: object = None  # tuner.skipped.Skipped: the sentences left out, already settled
    places: list[str] = field(default_factory=list)  # where each kept sentence is in the file ('line 12')

    def drop_unknown_types(self, known: set, known_from: str, strict: bool = False) -> None:
        """Leave out the sentences with an entity type never seen in `known_from` (counted, like every left-out row)."""
        keep = []
        for k, tags in enumerate(self.tags):
            unknown = next((t for t, _, _ in ts.bio_to_spans(tags) if t not in known), None)
            if unknown is None:
                keep.append(k)
            else:
                self.skipped.add(self.places[k] if k < len(self.places) else f"sentence {k + 1}",
                                 skip.unknown_type(unknown, known_from))
        if len(keep) == len(self.tags):
            return
        self.skipped.settle(self.skipped.total, strict)
        pick = lambda xs: [xs[k] for k in keep] if xs is not None else None  # noqa: E731
        self.tokens, self.tags, self.texts, self.places = pick(self.tokens), pick(self.tags), pick(self.texts), pick(self.places)

    def types(self) -> Counter:
        return Counter(t for tags in self.tags for t, _, _ in ts.bio_to_spans(tags))



# ---- column kinds ------------------------------------------------------------------------------------------
def _sample(series, n=200):
    return [v for v in series.head(n * 4).tolist() if v is not None and not (isinstance(v, float) and v != v)][:n]


def column_kind(series) -> str:
    """'taglist', 'tokens', 'spans', 'tagstr', 'str' or 'other' for a column, from a sample of its cells."""
    values = _sample(series)
    if not values:
        return "other"
    if all(isinstance(v, (list, tuple)) for v in values):
        items = [x for v in values for x in v][:2000]
        if not items:
            return "spans"  # only empty lists: records without entities
        if any(isinstance(x, dict) for x in items) or all(isinstance(x, (list, tuple)) and len(x) == 3 for x in items):
            return "spans"
        if all(isinstance(x, str) for x in items):
            tagged = sum(bool(TAG_LIKE.match(x.strip())) for x in items)
            return "taglist" if tagged >= 0.95 * len(items) else "tokens"
        return "other"
    if all(isinstance(v, str) for v in values):
        items = [x for v in values for x in v.split()][:2000]
        if items and sum(bool(TAG_LIKE.match(x)) for x in items) >= 0.95 * len(items):
            return "tagstr"
        return "str"
    return "other"


def _by_name(columns, names):
    lower = {str(c).lower().strip(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def cell_list(value, what: str, where: str) -> list:
    """A cell as a list: lists as they are (tokens become strings), strings split on whitespace."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)):
        out = []
        for x in value:
            if x is None or isinstance(x, (dict, list)):
                raise DataError(f"{where}: the {what} list holds {type(x).__name__} values; it must be a list of strings.")
            out.append(x if isinstance(x, str) or what == "tags" else str(x))
        return out
    if value is None or (isinstance(value, float) and value != value):
        return []
    raise DataError(f"{where}: the {what} cell is {type(value).__name__}; it must be a list of strings.")



# ---- reading -----------------------------------------------------------------------------------------------
def read_file(path) -> data_mod.Table:
    """CoNLL (by extension or by content), else the generic table reader (JSON/JSONL keep list cells)."""
    path = Path(path)
    if not str(path).strip() or path.is_dir():
        raise DataError("No data file given; choose a CoNLL, JSONL or table file with tagged sentences.")
    data_mod.checked_size(path, empty="upload a CoNLL, JSONL or table file with tagged sentences")
    ext = path.suffix.lower()
    if ext == ".parquet":
        return data_mod.read_table(path)
    raw = path.read_bytes()
    if raw[:4] == b"PAR1":
        return data_mod.read_table(path)
    text, warnings = data_mod.decode_bytes(raw, data_mod.display_name(path))
    if ext in data_mod.CONLL_EXTENSIONS or (ext not in JSON_EXTENSIONS and text.lstrip()[:1] not in ("{", "[")
                                            and data_mod.looks_like_conll(text)):
        table = data_mod.read_conll(text)
        table.warnings[:0] = warnings
        return table
    table = data_mod.read_table(path)
    if table.df.attrs.get("line_numbers"):  # JSON Lines: each record's file line (blank and broken lines skipped)
        table.df.attrs["ner_lines"] = table.df.attrs["line_numbers"]
        table.df.attrs["ner_line_kind"] = "jsonl"
    return table


def propose_columns(df) -> dict:
    """The tokens (or text) column and the tags (or spans) column of a table, from the cells' kinds and names."""
    cols = list(df.columns)
    kinds = {c: column_kind(df[c]) for c in cols}
    tag_cols = [c for c in cols if kinds[c] in ("taglist", "tagstr")]
    span_cols = [c for c in cols if kinds[c] == "spans"]
    if tag_cols:
        label = _by_name(tag_cols, TAG_NAMES) or tag_cols[-1]  # CoNLL puts the entity tags last
        want = "tokens" if kinds[label] == "taglist" else "str"
        cands = [c for c in cols if c != label and kinds[c] == want] or \
                [c for c in cols if c != label and kinds[c] in ("tokens", "str", "taglist")]
        text = _by_name(cands, TOKEN_NAMES) or _by_name(cands, TEXT_NAMES) or (cands[0] if cands else None)
    elif span_cols:
        label = _by_name(span_cols, SPAN_NAMES) or span_cols[0]
        cands = [c for c in cols if kinds[c] == "str"]
        text = _by_name(cands, TEXT_NAMES) or (max(cands, key=lambda c: df[c].astype(str).str.len().mean()) if cands else None)
    else:
        label = _by_name(cols, TAG_NAMES) or _by_name(cols, SPAN_NAMES)
        text = _by_name([c for c in cols if c != label], TOKEN_NAMES + TEXT_NAMES)
    return {"text_columns": [text] if text else [], "label_column": label or ""}


def extract_sentences(df, text_columns: list[str], label_column: str, source: str = "training file",
                      scheme: str = "auto", repair: bool = False, strict: bool = False) -> Sentences:
    """Tagged sentences in BIO from a table. A sentence that cannot be used (tokens and tags of different
    lengths, an empty token, an unreadable tag, a bad span) is left out and counted in `Sentences.skipped`
    (tuner.skipped): too many, or any with `strict`, and the file is refused with a sentence naming them."""
    if not text_columns:
        raise DataError(f"No tokens column chosen for the {source}; pick the column that holds the words (or the text).")
    if len(text_columns) > 1:
        raise DataError(f"Pick one tokens column for entity tagging, not {len(text_columns)} ({', '.join(text_columns)}).")
    if not label_column:
        raise DataError(f"No tags column chosen for the {source}; pick the column that holds the entity tags (or spans).")
    text_col = text_columns[0]
    for col in (text_col, label_column):
        if col not in df.columns:
            raise DataError(f"The {source} has no column '{col}'; its columns are: {', '.join(map(str, df.columns))}.")
    if text_col == label_column:
        raise DataError(f"Column '{label_column}' is chosen as both tokens and tags; pick different columns.")
    lines = df.attrs.get("ner_lines")
    line_kind = df.attrs.get("ner_line_kind")

    def where(i: int, j: int | None = None) -> str:
        if lines and line_kind == "conll":
            return f"Line {lines[i] + (j or 0)} of the {source}"
        head = f"Line {lines[i]}" if lines else f"Row {i + 1}"
        return f"{head} of the {source}" + (f" (token {j + 1})" if j is not None else "")

    def place(i: int, j: int | None = None) -> str:  # where, for the list of left-out rows
        if lines and line_kind == "conll":
            return f"line {lines[i] + (j or 0):,}"
        return (f"line {lines[i]:,}" if lines else data_mod.row_name(df, i)) + (f" (token {j + 1})" if j is not None else "")

    def leave_out(exc: DataError, i: int) -> None:
        head, _, text = str(exc).partition(": ")
        token = re.search(r"\(token (\d+)\)", head)
        where = place(i, int(token.group(1)) - 1) if token else place(i)
        skipped.add(where, skip.problem((text or head).split("; ")[0].rstrip(".")))

    spans_format = column_kind(df[label_column]) == "spans"
    tokens_all, raw_tags, texts, row_of = [], [], [], []
    dropped = 0
    skipped = data_mod.skipped_of(df, source)
    if line_kind == "conll":
        skipped.unit = "sentences"
    for i, (tv, lv) in enumerate(zip(df[text_col].tolist(), df[label_column].tolist())):
        try:
            if spans_format:
                if not isinstance(tv, str):
                    raise DataError(f"{where(i)}: with character spans the '{text_col}' field must be the text as one string.")
                spans = _read_spans(lv, tv, where(i))
                toks, _, tags = ts.char_spans_to_tokens(tv, spans)
            else:
                toks = cell_list(tv, "tokens", where(i))
                tags = cell_list(lv, "tags", where(i))
                if len(toks) != len(tags):
                    raise DataError(f"{where(i)}: {len(toks)} tokens but {len(tags)} tags; give exactly one tag per token.")
                for j, tok in enumerate(toks):
                    if not tok.strip():
                        raise DataError(f"{where(i, j)}: a token is empty; remove it or fill it in.")
            for j, tag in enumerate(tags):  # every tag readable before the scheme is guessed
                try:
                    ts.split_tag(tag)
                except ts.TagError as exc:
                    raise DataError(f"{where(i, j)}: {exc}; use O, B-TYPE and I-TYPE tags (or BIOES/IOB1/IO).") from None
        except DataError as exc:
            leave_out(exc, i)
            continue
        if not toks:
            dropped += 1
            continue
        if spans_format:
            texts.append(tv)
        tokens_all.append(toks)
        raw_tags.append(tags)
        row_of.append(i)
    if not tokens_all and not skipped:
        raise DataError(f"The {source} has no tagged sentences (0 usable rows); check that the tokens column '{text_col}' is filled in.")
    skipped.settle(data_mod.records_read(df) if not lines or line_kind != "conll" else len(df), strict)
    detected = ts.detect_scheme(raw_tags) if scheme == "auto" else scheme
    bio, problems, first = [], 0, ""
    for k, tags in enumerate(raw_tags):
        norm = ts.to_bio(tags, detected, repair)
        if norm.problems:
            if not problems:
                p = norm.problems[0]
                at = where(row_of[k], p.index)
                first = f"{at[0].lower()}{at[1:]}: {p.message}"
            problems += len(norm.problems)
        bio.append(norm.tags)
    out = Sentences(tokens_all, bio, detected, problems, first, repair and problems > 0, dropped,
                    texts if spans_format else None, skipped=skipped, places=[place(i) for i in row_of])
    types = out.types()
    if not types:
        raise DataError(f"The tags column '{label_column}' of the {source} has no entities (every tag is O); tag some entities or pick the right column.")
    if len(types) > MAX_TYPES:
        raise DataError(f"The tags column '{label_column}' has {len(types)} entity types (over {MAX_TYPES}); is it really the tag column?")
    return out


def _read_spans(value, text: str, where: str) -> list[tuple[int, int, str]]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: the spans must be a list of {{start, end, label}} objects.")
    spans = []
    for k, sp in enumerate(value, 1):
        if isinstance(sp, dict):
            s, e = sp.get("start"), sp.get("end")
            label = sp.get("label", sp.get("type", sp.get("entity")))
        elif isinstance(sp, (list, tuple)) and len(sp) == 3:
            s, e, label = sp
        else:
            raise DataError(f"{where}: span {k} must be an object with start, end and label (or a [start, end, label] list).")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (s, e)):
            raise DataError(f"{where}: span {k} needs whole-number start and end character offsets.")
        if not 0 <= s < e <= len(text):
            raise DataError(f"{where}: span {k} ({s}-{e}) lies outside the text of {len(text)} characters (or ends before it starts); fix its offsets.")
        if not isinstance(label, str) or not label.strip() or any(ch.isspace() for ch in label.strip()):
            raise DataError(f"{where}: span {k} needs a label without spaces, such as PER.")
        if not text[s:e].strip():
            raise DataError(f"{where}: span {k} ({s}-{e}) covers only spaces; fix its offsets.")
        spans.append((s, e, label.strip()))
    spans.sort()
    for (s1, e1, _), (s2, e2, _) in zip(spans, spans[1:]):
        if s2 < e1:
            raise DataError(f"{where}: spans {s1}-{e1} and {s2}-{e2} overlap; nested or overlapping entities are not supported, keep one of them.")
    return spans


# ---- the task's reading hooks ----------------------------------------------------------------------------------
FEW_SENTENCES = 200
FEW_PER_TYPE = 5


class NerReading:
    """read, propose, inspect, check_validation, load_splits, texts (tuner.tasks.base.Task), and extract /
    matching_columns."""

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
            "length_chars": stats(chars), "length_tokens_approx": stats(words),
            "warnings": sents.skipped.warnings() + self._warnings(sents, cfg.model.max_length), "skipped": sents.skipped,
            "scheme": sents.scheme, "tokens": int(words.sum()), "entities": sum(types.values()),
            "inconsistent_tags": sents.problems,
        }

    # ---- splits --------------------------------------------------------------------------------------------
    def load_splits(self, cfg, positions: bool = False) -> Splits:
        """Train/validation sentences with integer tag ids. `positions`: each split also gets "place", where each
        sentence is in its file ('line 1,204', 'row 17'; error analysis, tuner.analysis)."""
        table = self.read(cfg.data.train_file)
        warnings = list(table.warnings)
        proposal = self.propose(table.df)
        text_columns = list(cfg.data.text_columns) or proposal["text_columns"]
        label_column = cfg.data.label_column or proposal["label_column"]
        train = self.extract(table.df, text_columns, label_column, scheme=cfg.data.tag_scheme, repair=cfg.data.repair_tags,
                             strict=cfg.data.strict)
        warnings += train.skipped.warnings() + self._warnings(train, cfg.model.max_length)
        lists = [train.skipped]
        rows = {"tokens": train.tokens, "tags": train.tags, "place": train.places}  # cut together by `subset`
        rng = np.random.default_rng(cfg.seed)
        if cfg.data.max_train_rows and len(train.tokens) > cfg.data.max_train_rows:
            rows = subset(rows, sorted(rng.choice(len(train.tokens), cfg.data.max_train_rows, replace=False).tolist()))
        if cfg.data.validation_file:
            vtable = self.read(cfg.data.validation_file)
            vcols, vlabel = self.matching_columns(vtable.df, text_columns, label_column)
            val = self.extract(vtable.df, vcols, vlabel, source="validation file", scheme=cfg.data.tag_scheme,
                               repair=cfg.data.repair_tags, strict=cfg.data.strict)
            val.drop_unknown_types(set(train.types()), "the training file", cfg.data.strict)
            warnings += vtable.warnings + val.skipped.warnings()
            lists.append(val.skipped)
            vrows = {"tokens": val.tokens, "tags": val.tags, "place": val.places}
        else:
            n = len(rows["tokens"])
            order = rng.permutation(n).tolist()
            n_val = max(1, int(round(n * data_mod.held_out_share(cfg.data, n)))) if n >= 2 else 0
            vrows, rows = subset(rows, sorted(order[:n_val])), subset(rows, sorted(order[n_val:]))
        # Shortest first: the Trainer's evaluation batches are then padded to similar lengths (about 3x less
        # work than file order); every score is order-free.
        vrows = subset(vrows, sorted(range(len(vrows["tokens"])), key=lambda i: len(vrows["tokens"][i])))
        types = sorted(train.types())
        labels = ts.label_list(types)
        index = {n: i for i, n in enumerate(labels)}
        case = bool(cfg.data.case_feature)
        meta = {"task": self.name, "labels": labels, "types": types, "scheme": train.scheme,
                "text_columns": text_columns, "label_column": label_column, "case_feature": case}

        def ids(seqs):  # an entity type seen only in the dropped/sampled-out rows cannot happen: types come from all rows
            return [[index[t] for t in s] for s in seqs]

        def split(r):
            return {"tokens": r["tokens"], "tags": ids(r["tags"]), "case_feature": case,
                    **({"place": r["place"]} if positions else {})}

        return Splits(train=split(rows), validation=split(vrows), meta=meta, warnings=warnings,
                      skipped=[x for x in lists if x])

    def texts(self, split: dict) -> list[str]:
        """The first 2,000 sentences, their words joined by spaces (for the language check)."""
        return [" ".join(t) for t in split.get("tokens", [])[:2000]]
