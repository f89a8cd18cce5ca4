"""The chat model's answers: one reply per text, and a reply for every row of a file (a CSV with a `reply` column)."""

from __future__ import annotations

from ... import data as data_mod
from ... import skipped as skip
from ...errors import DataError
from ..common import bounded
from . import format as cf
from .generate import generate_replies

MAX_REPLY_ROWS = 5_000  # rows of a file `predict --file` answers (generation is slow)


class ChatPredict:
    """predict, format_prediction, predict_file (tuner.tasks.base.Task)."""

    def predict_file(self, predictor, path, out_path, text_columns=None) -> dict:
        """A reply for every row of a file (its last user turn, or its prompt column(s)); writes a CSV with a
        `reply` column added."""
        import json

        df = self.read(path).df
        if len(df) > MAX_REPLY_ROWS:
            raise DataError(f"The file has {len(df):,} rows; replies are generated for at most {MAX_REPLY_ROWS:,} rows per file.")
        meta = predictor.meta
        convs = {}  # row -> prompt turns; a row that cannot be used keeps its place with an empty reply, counted
        skipped = data_mod.skipped_of(df, "prediction file")
        shape, turn_col = cf.detect_shape(df), None
        if shape in ("messages", "sharegpt"):
            turn_col = cf.propose(df, shape)["prompt_columns"][0]
            for i, value in enumerate(df[turn_col]):
                try:
                    convs[i] = cf.prompt_turns(value, shape, turn_col, cf.row_name(df, i))
                except DataError as exc:
                    skipped.add(cf.row_name(df, i), cf.skip_reason(exc, cf.row_name(df, i), "file"))
        else:
            cols = list(text_columns or [c for c in meta.get("text_columns", []) if c in df.columns])
            cols = cols or cf.propose(df, "pairs")["prompt_columns"] or cf.propose(df, "text")["prompt_columns"]
            if not cols:
                raise DataError("The file has no prompt column; it needs the same prompt column(s) as the training data.")
            for i in range(len(df)):
                prompt = "\n\n".join(str(df[c].iat[i]).strip() for c in cols if str(df[c].iat[i]).strip())
                if prompt:
                    convs[i] = [{"role": "user", "content": bounded(prompt)}]
                else:
                    skipped.add(cf.row_name(df, i), skip.no_text(cols))
        skipped.settle(data_mod.records_read(df))
        rows = sorted(convs)
        prompts = [cf.with_system(convs[i], meta.get("system_prompt", "")) for i in rows]
        made = predictor.compute(generate_replies, predictor.model, predictor.tokenizer, prompts, predictor.template,
                                 int(meta.get("max_new_tokens", 128)), max(int(meta.get("max_length", 512)), 512))
        by_row = dict(zip(rows, made))
        replies = [by_row.get(i, "") for i in range(len(df))]
        out = df.copy()
        for col in out.columns:  # nested values (lists of turns) as JSON text in the CSV
            if out[col].map(lambda v: isinstance(v, (list, dict))).any():
                out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
        out["reply"] = replies
        out.to_csv(out_path, index=False)
        result = {"rows": len(out), "path": str(out_path)}
        if skipped:
            result["left_out"] = skipped.as_report()
        return result

    def predict(self, model, tokenizer, texts: list[str], meta: dict, max_length: int, **kw) -> list[str]:
        """One reply per text (a single user turn, with the run's system prompt), greedy."""
        template = cf.resolve_template(meta.get("template", "auto"), tokenizer)
        convs = [cf.with_system([{"role": "user", "content": t}], meta.get("system_prompt", "")) for t in texts]
        return generate_replies(model, tokenizer, convs, template=template,
                                max_new_tokens=kw.get("max_new_tokens", meta.get("max_new_tokens", 128)),
                                max_input=max(max_length, 512))

    def format_prediction(self, text: str, reply: str) -> str:
        return reply
