"""Reading multi-label data: which columns hold the text and the labels, how a row's labels are written, which rows
can be used, and the train/validation examples.

A row's labels are a real list (a JSON Lines or Parquet list column), a cell written as a list (`["billing",
"urgent"]`, or Python's `['billing', 'urgent']`), or a string split on a separator. `data.label_separator` says
which; `auto` detects it from the column (`detect_separator`):

* a cell that is a list, real or written, is always read as one; the other cells decide the rest:
* `;` or `|`: whichever splits more rows into known labels (a part is known when another distinct cell has it
  too, when a list cell has it, or when the training data has it), else whichever occurs in more rows;
* `,` only when no `;` or `|` occurs, every part is short and label-like, and at least half of the rows with a
  comma split into known labels: a single-label column whose names hold a comma ("Books, Music & Movies") always
  has the same parts together, so it stays one label per row;
* else `list` where some cell is a list, and one label per row where none is.

Labels are stripped, empty parts dropped and a row's duplicates collapsed. A row with no label, no text, a label
that reads like text or (validation and evaluation files) a label the training data never has is left out by the
rules of `tuner.skipped`. Validation: a validation file, or a random share of the rows (`data.validation_fraction`,
capped by `data.validation_max_rows`) where a held-out row whose label the other rows lack stays in training.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ... import data as data_mod
from ... import skipped as skip
from ...errors import DataError
from ..common import (
    FEW_PER_CLASS,
    FEW_ROWS,
    LABEL_NAMES,
    MAX_LABELS,
    TEXT_NAMES,
    TITLE_NAMES,
    Splits,
    approx_tokens,
    cell_text,
    guess_label,
    natural_key,
    reads_like_text,
    stats,
    subset,
)

SEPARATORS = (";", "|")   # taken whenever they occur; the comma needs more proof (module docstring)
CHOICES = ["auto", ";", "|", ",", "list", "none"]  # data.label_separator
LABEL_LIKE_CHARS = 40     # a comma-separated part longer than this, or of more words, is text, not a label
LABEL_LIKE_WORDS = 4
MULTI_LABEL_NAMES = ["labels", "tags", "topics", "categories", "classes", "label", "tag", "topic", "category"]


@dataclass
class Rows:
    """The usable rows of a table: texts, each row's labels, what was left out and how the labels were split."""

    texts: list[str]
    labels: list[list[str]]
    skipped: skip.Skipped
    separator: str
    positions: list[int] = field(default_factory=list)  # each kept row's position in the table (0-based)


# ---- how a row's labels are written --------------------------------------------------------------------------
def as_list(value) -> list | None:
    """The items of a list cell (a real list, or a string written as a JSON or Python list of names); else None."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if getattr(value, "ndim", 0) == 1:  # a numpy array: a list column read through pandas
        return value.tolist()
    if not isinstance(value, str):
        return None
    s = value.strip()
    if len(s) < 2 or s[0] != "[" or s[-1] != "]" or len(s) > 100_000:
        return None
    try:
        items = json.loads(s)
    except ValueError:
        try:
            items = ast.literal_eval(s)  # literals only: "['a', 'b']" as pandas writes a list to CSV
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return None
    if isinstance(items, list) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in items):
        return items
    return None


def split_labels(value, separator: str) -> list[str]:
    """A cell's labels: a list's items, or the string split on `separator` (';', '|', ','; anything else keeps it
    whole); stripped, empty parts dropped, duplicates collapsed (first one kept)."""
    items = as_list(value)
    if items is None:
        text = cell_text(value)
        items = text.split(separator) if separator in (";", "|", ",") else [text]
    out: list[str] = []
    for item in items:
        label = cell_text(item)
        if label and label not in out:
            out.append(label)
    return out


def detect_separator(values, known=()) -> str:
    """';', '|', ',', 'list' or 'none' for the cells of a label column (the rules are in the module docstring).
    List cells are lists whatever this says (`split_labels`); it decides how the other cells are read, and their
    labels count as known. `known`: labels the training data has (for a validation or evaluation file)."""
    known, texts, lists = set(known), [], 0
    for v in values:
        items = as_list(v)
        if items is not None:
            lists += 1
            known.update(cell_text(x) for x in items)
        elif cell_text(v):
            texts.append(cell_text(v))
    found = {sep: sum(sep in t for t in texts) for sep in SEPARATORS}
    if any(found.values()):
        scores = {sep: _rows_split_into_known(texts, sep, known) for sep in SEPARATORS if found[sep]}
        return max(scores, key=lambda sep: (scores[sep], found[sep]))
    with_comma = [t for t in texts if "," in t]
    if (with_comma and all(_label_like(p) for t in set(with_comma) for p in t.split(",") if p.strip())
            and 2 * _rows_split_into_known(texts, ",", known) >= len(with_comma)):
        return ","
    return "list" if lists else "none"


def _rows_split_into_known(texts: list[str], sep: str, known: set) -> int:
    """Rows holding `sep` whose every part is a known label: one the training data has, or one that another
    distinct cell of the column has too."""
    seen_in: dict[str, set] = {}
    for t in set(texts):
        for part in {p.strip() for p in t.split(sep) if p.strip()}:
            seen_in.setdefault(part, set()).add(t)
    ok = {p for p, cells in seen_in.items() if p in known or len(cells) >= 2}
    return sum(1 for t in texts if sep in t and all(p.strip() in ok for p in t.split(sep) if p.strip()))


def _label_like(part: str) -> bool:
    part = part.strip()
    return len(part) <= LABEL_LIKE_CHARS and len(part.split()) <= LABEL_LIKE_WORDS


def separator_phrase(separator: str) -> str:
    """How the Data tab says the labels were read."""
    if separator == "list":
        return "Labels read as lists"
    if separator in (";", "|", ","):
        return f"Labels split on '{separator}'"
    return "One label per row (no separator found)"


# ---- columns ------------------------------------------------------------------------------------------------
def propose(df) -> dict:
    """Text and label columns: by name first (a list-holding column is the labels), then by content."""
    cols = list(df.columns)
    lower = {str(c).lower().strip(): c for c in cols}
    listy = [c for c in cols if df[c].head(200).map(lambda v: as_list(v) is not None).any()]
    label = next((lower[n] for n in MULTI_LABEL_NAMES + LABEL_NAMES if n in lower), None)
    if label is None and listy:
        label = listy[0]
    if label is None:
        label = guess_label(df)
    rest = [c for c in cols if c != label and c not in listy]
    text = next((lower[n] for n in TEXT_NAMES if n in lower and lower[n] in rest), None)
    if text is None and rest:
        text = max(rest, key=lambda c: df[c].astype(str).str.len().mean())
    texts = [text] if text else []
    title = next((lower[n] for n in TITLE_NAMES if n in lower and lower[n] in rest and lower[n] != text), None)
    if title and text:
        texts = [title, text]
    return {"text_columns": texts, "label_column": label or ""}


def matching_columns(df, text_columns: list[str], label_column: str) -> tuple[list[str], str]:
    """Columns of a second file (validation, evaluation): the training names where present, else detected."""
    if all(c in df.columns for c in [*text_columns, label_column]):
        return list(text_columns), label_column
    proposal = propose(df)
    texts = [c for c in text_columns if c in df.columns] or proposal["text_columns"]
    label = label_column if label_column in df.columns else proposal["label_column"]
    return texts, label


# ---- rows ---------------------------------------------------------------------------------------------------
def extract(df, text_columns: list[str], label_column: str, separator: str = "auto", source: str = "training file",
            strict: bool = False, known_labels=None, known_from: str = "the training file") -> Rows:
    """The usable rows of a table (`Rows`). Rows with no label, no text, a label that reads like text or (with
    `known_labels`) a label never seen are left out and counted (tuner.skipped), which refuses the file (DataError)
    when too many are unusable."""
    if not text_columns:
        raise DataError(f"No text column chosen for the {source}; pick the column that holds the text.",
                        zh=f"{skip.SOURCE_ZH.get(source, source)}没有选择文本列；请选择存放文本的列。")
    if not label_column:
        raise DataError(f"No label column chosen for the {source}; pick the column that holds the labels.",
                        zh=f"{skip.SOURCE_ZH.get(source, source)}没有选择标签列；请选择存放标签的列。")
    for col in [*text_columns, label_column]:
        if col not in df.columns:
            raise DataError(f"The {source} has no column '{col}'; its columns are: {', '.join(map(str, df.columns))}.")
    if label_column in text_columns:
        raise DataError(f"Column '{label_column}' is chosen as both text and label; pick different columns.",
                        zh=f"列“{label_column}”同时被选为文本和标签；请选择不同的列。")
    for col in text_columns:
        if df[col].map(lambda v: isinstance(v, (list, dict))).any():
            raise DataError(f"Column '{col}' of the {source} holds lists or objects, not text; pick a column of "
                            "plain text.",
                            zh=f"{skip.SOURCE_ZH.get(source, source)}的列“{col}”存放的是列表或对象，不是文本；请选择纯文本列。")
    cells = df[label_column].tolist()
    known = set(known_labels) if known_labels is not None else None
    if separator == "auto":
        separator = detect_separator(cells, known or ())
    parts = [df[c].map(cell_text) for c in text_columns]
    texts = ["\n".join(p for p in row if p) for row in zip(*parts)]
    labels = [split_labels(v, separator) for v in cells]
    skipped = data_mod.skipped_of(df, source)
    counts = Counter(lab for row in labels for lab in row)
    text_like = ({lab for lab, n in counts.items() if n == 1 and reads_like_text(lab)}
                 if len(labels) >= 50 else set())
    keep = []
    for i, (t, labs) in enumerate(zip(texts, labels)):
        odd = next((lab for lab in labs if lab in text_like), None)
        unknown = next((lab for lab in labs if lab not in known), None) if known is not None else None
        if not labs:
            skipped.add(data_mod.row_name(df, i), skip.no_label(label_column))
        elif not t.strip():
            skipped.add(data_mod.row_name(df, i), skip.no_text(text_columns))
        elif odd is not None:
            skipped.add(data_mod.row_name(df, i), skip.label_like_text(odd))
        elif unknown is not None:
            skipped.add(data_mod.row_name(df, i), skip.unknown_label(unknown, known_from))
        else:
            keep.append(i)
    skipped.settle(data_mod.records_read(df), strict)
    if len(keep) < len(texts):
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    return Rows(texts, labels, skipped, separator, keep)


def label_counts(labels: list[list[str]]) -> Counter:
    """Rows per label."""
    return Counter(lab for row in labels for lab in row)


def warnings_for(rows: Rows, max_length: int) -> list[str]:
    """What the Data tab and the run say about usable rows; DataError where a multi-label model cannot be trained."""
    counts = label_counts(rows.labels)
    if len(counts) < 2:
        only = next(iter(counts), "")
        raise DataError(f"Every row has the label '{only}'; a multi-label classifier needs at least two different "
                        "labels.",
                        zh=f"每一行的标签都是“{only}”；多标签分类器至少需要两个不同的标签。")
    if len(counts) > MAX_LABELS:
        raise DataError(f"The label column has {len(counts)} different labels (over {MAX_LABELS}); is it really the "
                        "label column, and are the labels split on the right separator (data.label_separator)?",
                        zh=f"标签列有 {len(counts)} 个不同的标签（超过 {MAX_LABELS} 个）；它真的是标签列吗？"
                           "标签是否按正确的分隔符（data.label_separator）拆分？")
    out = []
    n = len(rows.texts)
    if n < FEW_ROWS:
        out.append(f"Only {n} rows: expect weak results; a few hundred rows per label help.")
    rare = [lab for lab, k in counts.items() if k < FEW_PER_CLASS]
    if rare:
        out.append(f"{len(rare)} label(s) are on fewer than {FEW_PER_CLASS} rows (e.g. '{rare[0]}'); the model will "
                   "rarely predict them.")
    everywhere = [lab for lab, k in counts.items() if k == n]
    if everywhere:
        out.append(f"The label '{everywhere[0]}' is on every row; it tells the model nothing.")
    if not any(len(labs) > 1 for labs in rows.labels):
        out.append(f"No row has more than one label ({separator_phrase(rows.separator).lower()}); if the labels are "
                   "written another way, set data.label_separator, else the classification task fits this data.")
    pairs = Counter((t, tuple(sorted(labs))) for t, labs in zip(rows.texts, rows.labels))
    dupes = sum(k - 1 for k in pairs.values() if k > 1)
    if dupes:
        out.append(f"{dupes} duplicate rows (same text and labels); they inflate validation scores if split across "
                   "train and validation.")
    by_text: dict[str, set] = {}
    for t, labs in zip(rows.texts, rows.labels):
        by_text.setdefault(t, set()).add(tuple(sorted(labs)))
    conflicts = sum(1 for sets in by_text.values() if len(sets) > 1)
    if conflicts:
        out.append(f"{conflicts} texts appear with different labels; the model cannot get those all right.")
    too_long = sum(1 for t in rows.texts if approx_tokens(t) > max_length)
    if too_long:
        out.append(f"About {too_long} texts are longer than the max length of {max_length} tokens and will be "
                   "truncated.")
    return out


def columns_for(df, cfg) -> tuple[list[str], str]:
    proposal = propose(df)
    return list(cfg.data.text_columns) or proposal["text_columns"], cfg.data.label_column or proposal["label_column"]


def inspect(df, cfg, name: str) -> dict:
    """Statistics and warnings for the Data tab (raises DataError on a blocking problem)."""
    text_columns, label_column = columns_for(df, cfg)
    rows = extract(df, text_columns, label_column, cfg.data.label_separator, strict=cfg.data.strict)
    counts = label_counts(rows.labels)
    warnings = rows.skipped.warnings() + warnings_for(rows, cfg.model.max_length)
    per_row = np.array([len(labs) for labs in rows.labels])
    lengths = np.array([len(t) for t in rows.texts])
    toks = np.array([approx_tokens(t) for t in rows.texts])
    mean, most = round(float(per_row.mean()), 2) if len(per_row) else 0.0, int(per_row.max()) if len(per_row) else 0
    shape = (f"text: {' + '.join(map(str, text_columns))} · labels: {label_column} · "
             f"{separator_phrase(rows.separator)}, {mean:.1f} per row (at most {most})")
    return {
        "task": name, "rows": len(rows.texts), "text_columns": text_columns, "label_column": label_column,
        "label_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "labels_per_row": {"mean": mean, "max": most}, "separator": rows.separator,
        "separator_note": separator_phrase(rows.separator), "shape_title": shape,
        "length_chars": stats(lengths), "length_tokens_approx": stats(toks),
        "warnings": warnings, "skipped": rows.skipped, "labels": sorted(counts, key=natural_key),
    }


def check_validation(vdf, info: dict, cfg) -> tuple[int, skip.Skipped]:
    """The Data tab's look at a validation file, by the rules training will read it with: (rows, skipped)."""
    vcols, vlabel = matching_columns(vdf, info["text_columns"], info["label_column"])
    rows = extract(vdf, vcols, vlabel, cfg.data.label_separator, source="validation file", strict=cfg.data.strict,
                   known_labels=info["labels"])
    return len(rows.texts), rows.skipped


def held_out(labels: list[list[str]], share: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) indices: a seeded random `share` of the rows, less the rows holding a label that no
    training row has (they stay in training, so every validation label is one the model learns)."""
    n = len(labels)
    n_val = round(n * share) if n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n).tolist()
    val, train = set(order[:n_val]), order[n_val:]
    trained = Counter(lab for i in train for lab in labels[i])
    for i in sorted(val):
        if any(trained[lab] == 0 for lab in labels[i]):
            val.discard(i)
            trained.update(labels[i])
    return sorted(set(range(n)) - val), sorted(val)


def load_splits(task, cfg, positions: bool = False) -> Splits:
    """The configured file(s) as train/validation examples: {"text", "labels" (label ids per row), "n_labels"};
    `positions`: each split also gets "row", the rows' positions in their file (error analysis, tuner.analysis)."""
    table = task.read(cfg.data.train_file)
    warnings = list(table.warnings)
    text_columns, label_column = columns_for(table.df, cfg)
    rows = extract(table.df, text_columns, label_column, cfg.data.label_separator, strict=cfg.data.strict)
    lists = [rows.skipped]
    warnings += rows.skipped.warnings() + warnings_for(rows, cfg.model.max_length)
    kept = {"text": rows.texts, "labels": rows.labels, "row": rows.positions}  # cut together by `subset`
    if cfg.data.max_train_rows and len(rows.texts) > cfg.data.max_train_rows:
        rng = np.random.default_rng(cfg.seed)
        kept = subset(kept, sorted(rng.choice(len(rows.texts), cfg.data.max_train_rows, replace=False).tolist()))
    if cfg.data.validation_file:
        vtable = task.read(cfg.data.validation_file)
        vcols, vlabel = matching_columns(vtable.df, text_columns, label_column)
        vrows = extract(vtable.df, vcols, vlabel, cfg.data.label_separator, source="validation file",
                        strict=cfg.data.strict, known_labels=label_counts(kept["labels"]))
        lists.append(vrows.skipped)
        warnings += vtable.warnings + vrows.skipped.warnings()
        vkept = {"text": vrows.texts, "labels": vrows.labels, "row": vrows.positions}
    else:
        tr, va = held_out(kept["labels"], data_mod.held_out_share(cfg.data, len(kept["labels"])), cfg.seed)
        vkept, kept = subset(kept, va), subset(kept, tr)
    labels = kept["labels"]
    names = sorted(label_counts(labels), key=natural_key)
    index = {n: i for i, n in enumerate(names)}
    counts = label_counts(labels)
    meta = {"task": task.name, "labels": names, "text_columns": text_columns, "label_column": label_column,
            "label_separator": rows.separator, "label_priors": [round(counts[n] / len(labels), 6) for n in names]}

    def ids(rows_labels):
        return [[index[lab] for lab in labs] for labs in rows_labels]

    def split(r):
        return {"text": r["text"], "labels": ids(r["labels"]), "n_labels": len(names),
                **({"row": r["row"]} if positions else {})}

    return Splits(train=split(kept), validation=split(vkept), meta=meta, warnings=warnings,
                  skipped=[s for s in lists if s])


class MultiLabelReading:
    """propose, inspect, check_validation, load_splits, rows_per_label (tuner.tasks.base.Task), and extract /
    matching_columns (file evaluation)."""

    def propose(self, df) -> dict:
        return propose(df)

    def matching_columns(self, df, text_columns: list[str], label_column: str) -> tuple[list[str], str]:
        return matching_columns(df, text_columns, label_column)

    def extract(self, df, text_columns: list[str], label_column: str, separator: str = "auto", **kwargs) -> Rows:
        return extract(df, text_columns, label_column, separator, **kwargs)

    def inspect(self, df, cfg) -> dict:
        return inspect(df, cfg, self.name)

    def check_validation(self, vdf, info: dict, cfg):
        return check_validation(vdf, info, cfg)

    def load_splits(self, cfg, positions: bool = False) -> Splits:
        return load_splits(self, cfg, positions)

    def rows_per_label(self, splits: Splits) -> dict[str, int]:
        """{label: training rows holding it} (the verdict's advice names labels with too few rows)."""
        names = splits.meta.get("labels") or []
        counts = Counter(i for ids in splits.train.get("labels") or [] for i in ids)
        return {str(name): int(counts.get(i, 0)) for i, name in enumerate(names)}
