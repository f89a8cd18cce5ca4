"""Text classification: one or more text columns -> one label per row.

reading.py    columns, usable rows, warnings, a validation split stratified by label
model.py      the sequence-classification head, tokenized rows, numpy-padded batches
metrics.py    accuracy / macro F1, the per-label report, the majority-class and classical floors
predict.py    label probabilities, highest first
analysis.py   rows with their file positions and probabilities for error analysis (tuner.analysis)
"""

from __future__ import annotations

from ..base import Task
from ..registry import register
from .analysis import ClassificationAnalysis
from .metrics import ClassificationMetrics
from .model import ClassificationModel
from .predict import ClassificationPredict
from .reading import ClassificationReading


class ClassificationTask(ClassificationReading, ClassificationModel, ClassificationMetrics, ClassificationPredict,
                         ClassificationAnalysis, Task):
    name = "classification"
    title = "Sort texts into labels"
    title_zh = "把文本分到标签（文本分类）"
    peft_task_type = "SEQ_CLS"
    auto_class = "AutoModelForSequenceClassification"
    hub_tag = "text-classification"
    demo = "classifier"            # Try it: label probabilities for a sentence or a file
    noun = "a classifier"
    column_roles = {"text_columns": "Text column(s)", "label_column": "Label column"}
    count_word = "labels"
    held_out = "a stratified 10%"
    selection_metric = "macro_f1"  # picks the best checkpoint on the validation split
    headline_metric = "macro_f1"   # what the verdict compares (tuner/verdict.py)
    floors = ("classical", "baseline")  # report keys the model must beat: TF-IDF model, then the majority class
    baseline_title = "majority"
    sort_validation = True         # validation rows are scored in length order (tight batches); order-free metrics


TASK = register(ClassificationTask())
