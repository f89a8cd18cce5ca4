"""Load base model + adapter once per run, then predict. Inputs are bounded; results are plain Python."""

from __future__ import annotations

import collections
import csv
import threading
from pathlib import Path

from .errors import DataError, RunError
from .runs import Run

MAX_TEXT_CHARS = 10_000
MAX_FILE_ROWS = 100_000
CACHE_SIZE = 3


class Predictor:
    """A finetuned model ready to answer: base + adapter merged, eval mode, on the CPU or first GPU."""

    def __init__(self, run: Run):
        from peft import PeftModel

        from . import models
        from .tasks import get_task

        if run.status().get("state") == "failed":
            raise RunError(f"Run {run.id} failed, so its adapter is not offered; pick a finished run.")
        if not run.has_adapter():
            raise RunError(f"Run {run.id} has no saved adapter yet; pick a finished run.")
        self.run = run
        self.meta = run.meta()
        self.task = get_task(self.meta["task"])
        self.max_length = int(self.meta.get("max_length", 128))
        source = models.resolve(self.meta["base_model"])
        self.tokenizer = models.load_tokenizer(str(run.adapter_dir))
        base = self.task.build_model(source, self.meta)
        model = PeftModel.from_pretrained(base, str(run.adapter_dir))
        self.model = model.merge_and_unload().eval()
        self._lock = threading.Lock()  # one forward at a time per model keeps latency predictable

    @property
    def labels(self) -> list[str]:
        return list(self.meta.get("labels", []))

    def predict(self, texts: list[str]) -> list[dict]:
        texts = [_bounded(t) for t in texts]
        with self._lock:
            return self.task.predict(self.model, self.tokenizer, texts, self.meta, self.max_length)

    def predict_one(self, text: str) -> dict:
        if not (text or "").strip():
            raise DataError("Type some text to classify.")
        return self.predict([text])[0]

    def predict_file(self, path: str | Path, out_path: str | Path, text_columns: list[str] | None = None) -> dict:
        """Predict every row of a table; writes a CSV with `predicted_label` and `confidence` columns."""
        from . import data as data_mod

        table = data_mod.read_table(path)
        df = table.df
        if len(df) > MAX_FILE_ROWS:
            raise DataError(f"The file has {len(df):,} rows; prediction takes at most {MAX_FILE_ROWS:,} per file.")
        cols = text_columns or [c for c in self.meta.get("text_columns", []) if c in df.columns]
        if not cols:
            cols = self.task.propose(df)["text_columns"]
        missing = [c for c in cols if c not in df.columns]
        if missing or not cols:
            raise DataError(f"The file has no column '{(missing or ['text'])[0]}'; it needs the same text column(s) as the training data.")
        texts = ["\n".join(str(v).strip() for v in row if str(v).strip()) for row in df[cols].itertuples(index=False)]
        probs = self.predict(texts)
        out = df.copy()
        out["predicted_label"] = [next(iter(p)) for p in probs]
        out["confidence"] = [round(next(iter(p.values())), 4) for p in probs]
        out.to_csv(out_path, index=False, quoting=csv.QUOTE_MINIMAL)
        return {"rows": len(out), "path": str(out_path), "label_counts": out["predicted_label"].value_counts().to_dict()}

    def evaluate_file(self, path: str | Path) -> dict:
        """Score a labelled file with the same report as training's evaluation."""
        from . import data as data_mod

        df = data_mod.read_table(path).df
        cols, label_col = self.task.matching_columns(df, self.meta.get("text_columns", []), self.meta.get("label_column", ""))
        texts, labels = self.task.extract(df, cols, label_col, source="evaluation file")
        names = self.labels
        unknown = sorted(set(labels) - set(names))
        if unknown:
            row = labels.index(unknown[0]) + 1
            raise DataError(f"Row {row} of the evaluation file has label '{unknown[0]}', which the model was not trained on; its labels are: {', '.join(names)}.")
        index = {n: i for i, n in enumerate(names)}
        probs = self.predict(texts)
        preds = [index[next(iter(p))] for p in probs]
        return self.task.report(preds, [index[x] for x in labels], self.meta)


def _bounded(text) -> str:
    text = "" if text is None else str(text)
    return text[:MAX_TEXT_CHARS]


_CACHE: collections.OrderedDict[str, Predictor] = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def get_predictor(run: Run) -> Predictor:
    """A cached Predictor per run (the few most recently used stay loaded)."""
    key = f"{run.id}:{run.adapter_dir.stat().st_mtime_ns if run.has_adapter() else 0}"
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    predictor = Predictor(run)
    with _CACHE_LOCK:
        _CACHE[key] = predictor
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return predictor
