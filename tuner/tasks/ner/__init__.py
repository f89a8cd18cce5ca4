"""Named-entity tagging: tokens -> one BIO tag per token (token classification).

Data: CoNLL files (token ... tag per line, blank line between sentences), JSON/JSONL records with `tokens` +
`tags` lists, JSON/JSONL records with `text` + character spans ({start, end, label} or [start, end, label]),
and tables whose token and tag columns hold space-joined strings, read by `reading.py`. Tag schemes are
detected and converted to BIO (`schemes.py`).

Model: a token-classification head on the base model; the first sub-token of every word carries the word's
label, the other sub-tokens are ignored in the loss (-100). Decoding is Viterbi under the BIO constraints (no
I-X after O or after another type), used alike during training, evaluation and prediction (`tagging.py`).

Case feature: uncased models (the bundled MiniLM lowercases everything) cannot see capital letters, the
strongest single clue for names. Where the model has a token-type embedding (BERT family) and
`data.case_feature` is on, every sub-token carries its word's shape as its token type (0 lower case or no
letters, 1 Capitalised, 2 ALL CAPS); the embedding gets a third row and is trained with the head. The flag
is saved with the adapter, and prediction rebuilds the same model and inputs.

reading.py    CoNLL / JSONL / table readers, columns, BIO sentences, warnings, splits
schemes.py    tag schemes (BIO, IOB1, BIOES, IO), spans, Viterbi constraints
tagging.py    words in, tags out: sub-token labels, the case feature, whole-sentence decoding
model.py      the token-classification head, tokenized rows, batches
metrics.py    entity-level scores, the report, the dictionary baseline
predict.py    entities of a text, tagged files
analysis.py   the validation sentences with the most entity errors, spans marked (tuner.analysis)
"""

from __future__ import annotations

from ..base import Task
from ..registry import register
from .analysis import NerAnalysis
from .metrics import NerMetrics
from .model import NerModel
from .predict import NerPredict
from .reading import NerReading


class NerTask(NerReading, NerModel, NerMetrics, NerPredict, NerAnalysis, Task):
    name = "ner"
    title = "Find names in text"
    title_zh = "找出文本中的名称（实体标注）"
    peft_task_type = "TOKEN_CLS"
    auto_class = "AutoModelForTokenClassification"
    hub_tag = "token-classification"
    demo = "tagger"               # Try it: the entities of a sentence or a file
    noun = "an entity tagger"
    settings_fields = ("data.tag_scheme", "data.repair_tags", "data.case_feature")
    column_roles = {"text_columns": "Tokens column", "label_column": "Tags column"}
    count_word = "entity types"
    selection_metric = "f1"       # entity-level micro F1 on the validation split picks the best checkpoint
    headline_metric = "f1"        # what the verdict compares (tuner/verdict.py)
    floors = ("baseline",)        # report key of what the model must beat
    baseline_title = "dictionary"
    prediction_suffix = ".jsonl"  # `predict --file` writes JSON Lines {text, entities, tokens, tags}
    translations = {"Find names in text — settings": "找出文本中的名称 — 设置", "Tokens column": "词元列", "Tags column": "标签序列列"}


TASK = register(NerTask())
