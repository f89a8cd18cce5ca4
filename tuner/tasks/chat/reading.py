"""Reading chat data: a table (or plain text) as conversations of the detected shape (`format.py`), the Data tab's
statistics and warnings, and the training / validation conversations with the prompt-format settings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ... import data as data_mod
from ...errors import DataError
from ..common import Splits, stats
from . import format as cf

FEW_ROWS = 50
TOKENS_PER_WORD = 1.3   # English BPE averages ~1.3 tokens per whitespace word
TOKENS_PER_TURN = 6     # role markers and separators a template adds per turn


def approx_tokens(conv: list[dict]) -> int:
    return sum(int(len(m["content"].split()) * TOKENS_PER_WORD) + TOKENS_PER_TURN for m in conv)


class ChatReading:
    """read, propose, inspect, check_validation, load_splits, texts (tuner.tasks.base.Task), and conversations."""

    def read(self, path) -> data_mod.Table:
        """`data.read_table`, plus plain .txt files as documents, and file line numbers for JSON Lines rows."""
        path = Path(path)
        if path.suffix.lower() == ".txt" and not _looks_tabular(path):
            return _read_text_documents(path)
        return data_mod.read_table(path)  # JSON Lines rows carry their file line numbers (tuner.data.row_name)

    def propose(self, df, shape: str = "auto") -> dict:
        p = cf.propose(df, shape)
        return {"text_columns": p["prompt_columns"], "label_column": p["response_column"], "shape": p["shape"]}

    def conversations(self, df, cfg, source: str = "training file", columns=None, skipped_out: list | None = None):
        """(shape, prompt columns, response column, conversations) for a table and a config; unusable rows are
        left out by the shared rules (tuner.skipped), their list appended to `skipped_out`."""
        columns = columns if columns else (list(cfg.data.text_columns), cfg.data.label_column)
        return self.read_conversations(df, cfg.chat.shape, columns, source, cfg.data.strict, skipped_out)

    def read_conversations(self, df, shape_cfg: str = "auto", columns=([], ""), source: str = "training file",
                           strict: bool = False, skipped_out: list | None = None):
        """`conversations` with the settings given one by one (`chat.shape`, the (prompt columns, response
        column), `data.strict`)."""
        pcols, rcol = list(columns[0]), columns[1]
        if not pcols or (shape_cfg == "pairs" and not rcol):
            proposal = cf.propose(df, shape_cfg)
            pcols = pcols or proposal["prompt_columns"]
            rcol = rcol or proposal["response_column"]
        shape = cf.shape_for_columns(df, shape_cfg, pcols, rcol)
        if shape in ("messages", "sharegpt", "text"):
            rcol = ""
            if shape != "text" and pcols and pcols[0] not in df.columns:
                pcols = cf.propose(df, shape)["prompt_columns"]
        convs = cf.to_conversations(df, shape, pcols, rcol, source=source, strict=strict, skipped_out=skipped_out)
        return shape, pcols, rcol, convs

    def extract(self, df, text_columns, label_column, source: str = "training file") -> list[list[dict]]:
        """The conversations of a second file read with the given columns and the default settings."""
        return self.read_conversations(df, "auto", (list(text_columns), label_column), source)[3]

    def matching_columns(self, df, text_columns, label_column):
        if all(c in df.columns for c in [*text_columns, *([label_column] if label_column else [])]):
            return list(text_columns), label_column
        p = cf.propose(df)
        return p["prompt_columns"], p["response_column"]

    def check_validation(self, vdf, info: dict, cfg):
        """The Data tab's look at a validation file, by the same rules as training will read it: (rows, skipped)."""
        cols = self.matching_columns(vdf, info["text_columns"], info["label_column"])
        lists: list = []
        convs = self.conversations(vdf, cfg, source="validation file", columns=cols, skipped_out=lists)[3]
        return len(convs), lists[0]

    def inspect(self, df, cfg) -> dict:
        """Statistics and warnings for the Data tab (raises DataError on a blocking problem)."""
        lists: list = []
        shape, pcols, rcol, convs = self.conversations(df, cfg, skipped_out=lists)
        convs = [cf.with_system(c, cfg.chat.system_prompt) for c in convs]
        chars = np.array([sum(len(m["content"]) for m in c) for c in convs])
        toks = np.array([approx_tokens(c) for c in convs])
        return {
            "task": self.name, "rows": len(convs), "shape": shape, "shape_title": cf.SHAPE_TITLES[shape],
            "text_columns": pcols, "label_column": rcol,
            "label_counts": cf.turn_stats(convs),
            "length_chars": stats(chars), "length_tokens_approx": stats(toks),
            "truncated_approx": int((toks > cfg.model.max_length).sum()), "max_length": cfg.model.max_length,
            "warnings": lists[0].warnings() + self._warnings(convs, cfg.model.max_length), "skipped": lists[0],
        }

    def _warnings(self, convs: list[list[dict]], max_length: int) -> list[str]:
        out = []
        if len(convs) < FEW_ROWS:
            out.append(f"Only {len(convs)} conversations: expect the model to copy them rather than generalise; a few hundred help.")
        keys = Counter(tuple((m["role"], m["content"]) for m in c) for c in convs)
        dupes = sum(n - 1 for n in keys.values() if n > 1)
        if dupes:
            out.append(f"{dupes} conversations are exact duplicates; they inflate validation scores if split across train and validation.")
        too_long = sum(1 for c in convs if approx_tokens(c) > max_length)
        if too_long:
            out.append(f"About {too_long} of {len(convs)} conversations are longer than the max length of {max_length} tokens and will be truncated (replies cut short).")
        return out

    def load_splits(self, cfg) -> Splits:
        table = self.read(cfg.data.train_file)
        lists: list = []
        shape, pcols, rcol, convs = self.conversations(table.df, cfg, skipped_out=lists)
        convs = [cf.with_system(c, cfg.chat.system_prompt) for c in convs]
        warnings = list(table.warnings) + lists[0].warnings() + self._warnings(convs, cfg.model.max_length)
        rng = np.random.default_rng(cfg.seed)
        if cfg.data.max_train_rows and len(convs) > cfg.data.max_train_rows:
            keep = sorted(rng.choice(len(convs), cfg.data.max_train_rows, replace=False).tolist())
            convs = [convs[i] for i in keep]
        if cfg.data.validation_file:
            vtable = self.read(cfg.data.validation_file)
            cols = self.matching_columns(vtable.df, pcols, rcol)
            _, _, _, vconvs = self.conversations(vtable.df, cfg, source="validation file", columns=cols, skipped_out=lists)
            warnings += vtable.warnings + lists[-1].warnings()
            vconvs = [cf.with_system(c, cfg.chat.system_prompt) for c in vconvs]
            tconvs = convs
        else:
            if len(convs) < 2:
                raise DataError("The training file has a single conversation; add more rows or a validation file.")
            tr, va = data_mod.stratified_split(["all"] * len(convs), data_mod.held_out_share(cfg.data, len(convs)), cfg.seed)
            tconvs, vconvs = [convs[i] for i in tr], [convs[i] for i in va]
        meta = {"task": self.name, "shape": shape, "template": cfg.chat.template, "system_prompt": cfg.chat.system_prompt,
                "text_columns": pcols, "label_column": rcol, "max_new_tokens": cfg.chat.max_new_tokens}
        # encode() only sees the split dict: it carries the prompt-format settings, and the shared meta and warnings
        # so that encoding can record the template it resolved and how many conversations max_length truncated.
        common = {"template": cfg.chat.template, "_meta": meta, "_warnings": warnings}
        return Splits(
            train={"conversations": tconvs, "packing": cfg.chat.packing, "name": "training", **common},
            validation={"conversations": vconvs, "packing": False, "name": "validation", **common},
            meta=meta, warnings=warnings, skipped=[x for x in lists if x],
        )

    def texts(self, split: dict) -> list[str]:
        return []  # conversations are not checked for their language


# ---- reading helpers -------------------------------------------------------------------------------
def _looks_tabular(path: Path) -> bool:
    """A .txt upload is read as a table only when its first line is a header: 2+ short column names between
    delimiters (e.g. 'prompt<TAB>response'); anything else is prose."""
    import re

    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.readline().strip("\ufeff\r\n")
    except OSError:
        return False
    for delim in ("\t", ",", ";", "|"):
        cells = [c.strip() for c in head.split(delim)]
        if len(cells) >= 2 and all(re.fullmatch(r"[A-Za-z_][\w .-]{0,39}", c) for c in cells):
            return True
    return False


def _read_text_documents(path: Path) -> data_mod.Table:
    import pandas as pd

    data_mod.checked_size(path)
    text, warnings = data_mod.decode_bytes(path.read_bytes(), data_mod.display_name(path))
    blocks = [b.strip() for b in text.split("\n\n")]
    docs = [b for b in blocks if b]
    if len(docs) <= 1:  # no blank lines: one document per line
        docs = [line.strip() for line in text.split("\n") if line.strip()]
    if not docs:
        raise DataError("The text file is empty (0 usable rows); upload a file with some text.")
    return data_mod.Table(pd.DataFrame({"text": docs}), "text", warnings)
