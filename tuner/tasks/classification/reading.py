"""Reading classification data: guess the text and label columns, keep the usable rows (one label each), warn
about what weakens a classifier, and split off validation rows stratified by label."""

from __future__ import annotations

import re
from collections import Counter

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
)


class ClassificationReading:
    """propose, inspect, check_validation, load_splits (tuner.tasks.base.Task), and extract / matching_columns."""

    # ---- columns ---------------------------------------------------------------------------------
    def propose(self, df) -> dict:
        cols = list(df.columns)
        lower = {c.lower().strip(): c for c in cols}
        label = next((lower[n] for n in LABEL_NAMES if n in lower), None)
        if label is None:
            label = guess_label(df)
        rest = [c for c in cols if c != label]
        text = next((lower[n] for n in TEXT_NAMES if n in lower and lower[n] != label), None)
        if text is None and rest:
            text = max(rest, key=lambda c: df[c].astype(str).str.len().mean())
        texts = [text] if text else []
        title = next((lower[n] for n in TITLE_NAMES if n in lower and lower[n] not in (label, text)), None)
        if title and text:
            texts = [title, text]
        return {"text_columns": texts, "label_column": label or ""}

    # ---- reading and validating ------------------------------------------------------------------
    def extract(self, df, text_columns: list[str], label_column: str, source: str = "training file",
                strict: bool = False, known_labels=None, known_from: str = "the training file", with_rows: bool = False):
        """(texts, labels, skipped) from the usable rows of a table (and their row positions in it, `with_rows`). Rows with no label, no text, a label that
        reads like text or (with `known_labels`) a label never seen are left out and counted in `skipped`
        (tuner.skipped), which has already decided: the file is refused (DataError) when too many are unusable."""
        if not text_columns:
            raise DataError(f"No text column chosen for the {source}; pick the column that holds the text.")
        if not label_column:
            raise DataError(f"No label column chosen for the {source}; pick the column that holds the labels.")
        for col in [*text_columns, label_column]:
            if col not in df.columns:
                raise DataError(f"The {source} has no column '{col}'; its columns are: {', '.join(map(str, df.columns))}.")
        if label_column in text_columns:
            raise DataError(f"Column '{label_column}' is chosen as both text and label; pick different columns.")
        for col in [*text_columns, label_column]:
            if df[col].map(lambda v: isinstance(v, (list, dict))).any():
                raise DataError(f"Column '{col}' of the {source} holds lists or objects, not text; pick a column of plain text.")
        parts = [df[c].map(cell_text) for c in text_columns]
        texts = ["\n".join(p for p in row if p) for row in zip(*parts)]
        labels = [str(v).strip() for v in df[label_column].map(cell_text)]
        skipped = data_mod.skipped_of(df, source)
        counts = Counter(labels)
        text_like = {lab for lab, n in counts.items() if n == 1 and reads_like_text(lab)} if len(labels) >= 50 else set()
        known = set(known_labels) if known_labels is not None else None
        keep = []
        for i, (t, lab) in enumerate(zip(texts, labels)):
            if not lab:
                skipped.add(data_mod.row_name(df, i), skip.no_label(label_column))
            elif not t.strip():
                skipped.add(data_mod.row_name(df, i), skip.no_text(text_columns))
            elif lab in text_like:
                skipped.add(data_mod.row_name(df, i), skip.label_like_text(lab))
            elif known is not None and lab not in known:
                skipped.add(data_mod.row_name(df, i), skip.unknown_label(lab, known_from))
            else:
                keep.append(i)
        skipped.settle(data_mod.records_read(df), strict)
        if len(keep) < len(texts):
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        _check_mixed_types(labels, label_column, source)
        return (texts, labels, skipped, keep) if with_rows else (texts, labels, skipped)

    def inspect(self, df, cfg) -> dict:
        """Statistics and warnings for the upload page (raises DataError on a blocking problem)."""
        cols = cfg.data.text_columns, cfg.data.label_column
        proposal = self.propose(df)
        text_columns = list(cols[0]) or proposal["text_columns"]
        label_column = cols[1] or proposal["label_column"]
        texts, labels, skipped = self.extract(df, text_columns, label_column, strict=cfg.data.strict)
        counts = Counter(labels)
        warnings = skipped.warnings() + self._warnings(texts, labels, counts, cfg.model.max_length)
        lengths = np.array([len(t) for t in texts])
        toks = np.array([approx_tokens(t) for t in texts])
        return {
            "task": self.name, "rows": len(texts), "text_columns": text_columns, "label_column": label_column,
            "label_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "length_chars": stats(lengths), "length_tokens_approx": stats(toks),
            "warnings": warnings, "skipped": skipped, "labels": sorted(counts, key=natural_key),
        }

    def check_validation(self, vdf, info: dict, cfg):
        """The Data tab's look at a validation file, by the same rules as training will read it: (rows, skipped)."""
        vcols, vlabel = self.matching_columns(vdf, info["text_columns"], info["label_column"])
        texts, _, skipped = self.extract(vdf, vcols, vlabel, source="validation file", strict=cfg.data.strict,
                                         known_labels=info["labels"])
        return len(texts), skipped

    def _warnings(self, texts, labels, counts, max_length) -> list[str]:
        out = []
        if len(counts) < 2:
            only = next(iter(counts), "")
            raise DataError(f"Every row has the label '{only}'; a classifier needs at least two different labels.")
        if len(counts) > MAX_LABELS:
            raise DataError(f"The label column has {len(counts)} different values (over {MAX_LABELS}); is it really the label column?")
        if len(texts) < FEW_ROWS:
            out.append(f"Only {len(texts)} rows: expect weak results; a few hundred rows per label help.")
        rare = [lab for lab, n in counts.items() if n < FEW_PER_CLASS]
        if rare:
            out.append(f"{len(rare)} label(s) have fewer than {FEW_PER_CLASS} examples (e.g. '{rare[0]}'); the model will rarely predict them.")
        pairs = Counter(zip(texts, labels))
        dupes = sum(n - 1 for n in pairs.values() if n > 1)
        if dupes:
            out.append(f"{dupes} duplicate rows (same text and label); they inflate validation scores if split across train and validation.")
        by_text: dict[str, set] = {}
        for t, lab in zip(texts, labels):
            by_text.setdefault(t, set()).add(lab)
        conflicts = sum(1 for labs in by_text.values() if len(labs) > 1)
        if conflicts:
            out.append(f"{conflicts} texts appear with different labels; the model cannot get those all right.")
        too_long = sum(1 for t in texts if approx_tokens(t) > max_length)
        if too_long:
            out.append(f"About {too_long} texts are longer than the max length of {max_length} tokens and will be truncated.")
        return out

    def load_splits(self, cfg, positions: bool = False) -> Splits:
        """Read the configured file(s) into train/validation examples with integer label ids. `positions`: each
        split also gets "row", the rows' positions in their file (error analysis, tuner.analysis)."""
        table = data_mod.read_table(cfg.data.train_file)
        warnings = list(table.warnings)
        proposal = self.propose(table.df)
        text_columns = list(cfg.data.text_columns) or proposal["text_columns"]
        label_column = cfg.data.label_column or proposal["label_column"]
        texts, labels, skipped, rows = self.extract(table.df, text_columns, label_column, strict=cfg.data.strict,
                                                    with_rows=True)
        lists = [skipped]
        warnings += skipped.warnings()
        warnings += self._warnings(texts, labels, Counter(labels), cfg.model.max_length)
        if cfg.data.max_train_rows and len(texts) > cfg.data.max_train_rows:
            rng = np.random.default_rng(cfg.seed)
            keep = sorted(rng.choice(len(texts), cfg.data.max_train_rows, replace=False).tolist())
            texts, labels, rows = [texts[i] for i in keep], [labels[i] for i in keep], [rows[i] for i in keep]
        if cfg.data.validation_file:
            vtable = data_mod.read_table(cfg.data.validation_file)
            vtext_cols, vlabel_col = self.matching_columns(vtable.df, text_columns, label_column)
            vtexts, vlabels, vskipped, vrows = self.extract(vtable.df, vtext_cols, vlabel_col, source="validation file",
                                                            strict=cfg.data.strict, known_labels=set(labels),
                                                            with_rows=True)
            lists.append(vskipped)
            warnings += vtable.warnings + vskipped.warnings()
        else:
            tr, va = data_mod.stratified_split(labels, data_mod.held_out_share(cfg.data, len(labels)), cfg.seed)
            vtexts, vlabels, vrows = [texts[i] for i in va], [labels[i] for i in va], [rows[i] for i in va]
            texts, labels, rows = [texts[i] for i in tr], [labels[i] for i in tr], [rows[i] for i in tr]
        names = sorted(set(labels), key=natural_key)
        index = {n: i for i, n in enumerate(names)}
        meta = {"task": self.name, "labels": names, "text_columns": text_columns, "label_column": label_column}
        train, validation = {"text": texts, "label": [index[x] for x in labels]}, {"text": vtexts, "label": [index[x] for x in vlabels]}
        if positions:
            train["row"], validation["row"] = rows, vrows
        return Splits(train=train, validation=validation, meta=meta, warnings=warnings, skipped=[s for s in lists if s])

    def matching_columns(self, df, text_columns: list[str], label_column: str) -> tuple[list[str], str]:
        """Columns of a second file (validation, evaluation): the training names where present, else detected
        the same way (SST-2's dev file calls its text column 'content' where train says 'sentence')."""
        if all(c in df.columns for c in [*text_columns, label_column]):
            return list(text_columns), label_column
        proposal = self.propose(df)
        texts = [c for c in text_columns if c in df.columns] or proposal["text_columns"]
        label = label_column if label_column in df.columns else proposal["label_column"]
        return texts, label


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _check_mixed_types(labels: list[str], column: str, source: str) -> None:
    numeric = [bool(_NUMBER.match(x)) for x in labels]
    if any(numeric) and not all(numeric):
        i_num, i_word = numeric.index(True), numeric.index(False)
        raise DataError(
            f"The label column '{column}' of the {source} mixes numbers and words (e.g. '{labels[i_num]}' in row {i_num + 1} "
            f"and '{labels[i_word]}' in row {i_word + 1}); use one kind of label throughout."
        )
