"""The tagger's answers: the entities of a text (character spans, type, confidence), one CLI block each, and a
file of texts or token lists tagged into JSON Lines."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ... import data as data_mod
from ...errors import DataError
from ..common import MAX_FILE_ROWS, bounded, listed
from . import schemes as ts
from .reading import JSON_EXTENSIONS, cell_list, column_kind
from .tagging import entity_result, tag_words


class NerPredict:
    """predict, format_prediction, predict_file, demo_note (tuner.tasks.base.Task)."""

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
        path = Path(path)
        rows = self._file_inputs(path, predictor.meta, text_columns)
        if len(rows) > MAX_FILE_ROWS:
            raise DataError(f"The file has {len(rows):,} rows; tagging takes at most {MAX_FILE_ROWS:,} per file.")
        pretok = [r for r in rows if isinstance(r, list)]
        if pretok:  # on the compute thread, one forward at a time per loaded model
            tagged = predictor.compute(tag_words, predictor.model, predictor.tokenizer, rows, predictor.meta, predictor.max_length)
        else:
            texts = [bounded(r) for r in rows]
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

    def demo_note(self, meta: dict) -> str:
        return f"Entity tagger · types: {listed(meta.get('types', []))}"
