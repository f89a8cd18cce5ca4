"""Multi-label classification: one or more text columns -> any number of labels per row (a support ticket tagged
'billing' and 'urgent'; finance news with a topic and a sentiment).

The folder, in the shape every task has:
    reading.py   columns, how a row's labels are written (a list, or ';' / '|' / ',' detected; data.label_separator
                 confirms or overrides), usable rows, the Data tab's summary, train/validation examples
    model.py     a sequence-classification head with one sigmoid output per label (binary cross-entropy), the
                 multi-hot encoding and its collator
    metrics.py   the threshold chosen on validation, micro / macro / samples F1, the per-label report, the floors
    predict.py   label probabilities, the labels over the threshold, CLI lines, file prediction and evaluation

The Try-it tab shows it as a classifier (demo "classifier": {label: probability}); `chosen(prediction, meta)` names
the labels a prediction gives its text (all those over the run's threshold).
"""

from __future__ import annotations

from ... import data as data_mod
from .. import register
from . import metrics, model, predict, reading


class MultiLabelTask:
    name = "multilabel"
    title = "Multi-label classification"
    demo = "classifier"           # the Try-it demo: label probabilities, highest first
    selection_metric = "micro_f1"  # picks the best checkpoint on the validation split
    headline_metric = "micro_f1"   # what the verdict compares (tuner/verdict.py)
    floors = ("classical", "baseline")  # TF-IDF + one-vs-rest logistic regression, then the most common label set
    sort_validation = True        # validation rows are scored in length order: every metric is order-free
    column_roles = {"text_columns": "Text column(s)", "label_column": "Labels column"}
    peft_task_type = "SEQ_CLS"
    prediction_suffix = ".csv"

    # ---- reading ---------------------------------------------------------------------------------------------
    def read(self, path) -> data_mod.Table:
        return data_mod.read_table(path)

    def propose(self, df) -> dict:
        return reading.propose(df)

    def matching_columns(self, df, text_columns: list[str], label_column: str) -> tuple[list[str], str]:
        return reading.matching_columns(df, text_columns, label_column)

    def extract(self, df, text_columns: list[str], label_column: str, separator: str = "auto", **kwargs):
        return reading.extract(df, text_columns, label_column, separator, **kwargs)

    def inspect(self, df, cfg) -> dict:
        return reading.inspect(df, cfg, self.name)

    def check_validation(self, vdf, info: dict, cfg):
        return reading.check_validation(vdf, info, cfg)

    def load_splits(self, cfg) -> reading.Splits:
        return reading.load_splits(self, cfg)

    # ---- model -----------------------------------------------------------------------------------------------
    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None,
                    first_token_only: bool = True, **config_overrides):
        return model.build_model(source, meta, dtype, attn_implementation, first_token_only, **config_overrides)

    def modules_to_save(self, m) -> list[str]:
        return model.modules_to_save(m)

    def encode(self, split: dict, tokenizer, max_length: int):
        return model.encode(split, tokenizer, max_length)

    def collator(self, tokenizer):
        return model.collator(tokenizer)

    # ---- metrics ---------------------------------------------------------------------------------------------
    def compute_metrics(self, meta: dict):
        return metrics.compute_metrics(meta)

    def report_from_output(self, output, splits) -> dict:
        """The report for a `Trainer.predict` output on the validation split; its threshold also goes into the meta."""
        out = metrics.report(metrics.sigmoid(output.predictions), output.label_ids, splits.meta,
                             train_labels=splits.train["labels"])
        splits.meta["threshold"] = out["threshold"]
        return out

    def report(self, probs, refs, meta: dict, train_labels=None, threshold: float | None = None) -> dict:
        return metrics.report(probs, refs, meta, train_labels, threshold)

    def classical_floor(self, splits, texts=None, refs=None) -> dict:
        return metrics.classical_floor(splits, texts, refs)

    # ---- inference -------------------------------------------------------------------------------------------
    def predict(self, m, tokenizer, texts: list[str], meta: dict, max_length: int, **kwargs):
        return predict.predict(m, tokenizer, texts, meta, max_length, **kwargs)

    def chosen(self, prediction: dict, meta: dict | None = None) -> list[str]:
        return predict.chosen(prediction, meta)

    def format_prediction(self, text: str, prediction: dict) -> str:
        return predict.format_prediction(text, prediction)

    def predict_file(self, predictor, path, out_path, text_columns=None) -> dict:
        return predict.predict_file(self, predictor, path, out_path, text_columns)

    def evaluate_file(self, predictor, path) -> dict:
        return predict.evaluate_file(self, predictor, path)


TASK = register(MultiLabelTask())
