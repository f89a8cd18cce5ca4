"""Multi-label classification: one or more text columns -> any number of labels per row (a support ticket tagged
'billing' and 'urgent'; finance news with a topic and a sentiment).

reading.py   columns, how a row's labels are written (a list, or ';' / '|' / ',' detected; data.label_separator
             confirms or overrides), usable rows, the Data tab's summary, train/validation examples
model.py     a sequence-classification head with one sigmoid output per label (binary cross-entropy), started at the
             labels' training shares; the multi-hot encoding and its collator
metrics.py   the threshold chosen on validation, micro / macro / samples F1, the per-label report, the floors (the
             most common label set, TF-IDF + one-vs-rest logistic regression), file evaluation, the CLI summary
predict.py   label probabilities, the labels over the threshold (the Try-it title, CLI lines, a predicted file's
             columns)
analysis.py  the mistakes view: validation rows whose label set is wrong, each label's misses and extras
"""

from __future__ import annotations

from ..base import Task
from ..registry import register
from .analysis import MultiLabelAnalysis
from .metrics import MultiLabelMetrics
from .model import MultiLabelModel
from .predict import MultiLabelPredict
from .reading import MultiLabelReading


class MultiLabelTask(MultiLabelReading, MultiLabelModel, MultiLabelMetrics, MultiLabelPredict, MultiLabelAnalysis,
                     Task):
    name = "multilabel"
    title = "Tag texts with several labels"
    title_zh = "给文本打多个标签（多标签分类）"
    peft_task_type = "SEQ_CLS"
    auto_class = "AutoModelForSequenceClassification"
    hub_tag = "text-classification"
    head_kwargs = {"problem_type": "multi_label_classification"}  # the model card's load code: a sigmoid head
    demo = "classifier"            # Try it: every label's probability, titled with the labels over the threshold
    noun = "a multi-label classifier"
    settings_fields = ("data.label_separator",)
    column_roles = {"text_columns": "Text column(s)", "label_column": "Labels column"}
    count_word = "labels"
    held_out = "a random 10%"      # rows whose label no other row has stay in training (reading.held_out)
    selection_metric = "micro_f1"  # picks the best checkpoint on the validation split
    headline_metric = "micro_f1"   # what the verdict compares (tuner/verdict.py)
    floors = ("classical", "baseline")  # TF-IDF + one-vs-rest logistic regression, then the most common label set
    baseline_title = "label set"   # the most common label set of the training rows, given to every row
    sort_validation = True         # validation rows are scored in length order: every metric is order-free
    translations = {
        "Tag texts with several labels — settings": "给文本打多个标签 — 设置", "label separator": "标签分隔符", "Labels column": "标签列",
        "Multi-label: how a row's labels are written; auto = detect a list (a JSON list or list column) or a ';', '|' "
        "or ',' between labels; none = one label per row.":
            "多标签：每行的标签如何书写；auto = 自动检测列表（JSON 列表或列表列）或标签之间的“;”“|”或“,”；none = 每行一个标签。",
        "Labels read as lists": "标签按列表读取", "Labels split on ';'": "标签按“;”拆分",
        "Labels split on '|'": "标签按“|”拆分", "Labels split on ','": "标签按“,”拆分",
        "One label per row (no separator found)": "每行一个标签（未找到分隔符）",
    }


TASK = register(MultiLabelTask())
