"""Task registry. Each task module has the same shape and registers one object with:

    name, title                       identity ("classification", "Text classification")
    demo                              which Try-it demo the page shows: "classifier", "tagger" or "chat"
    selection_metric                  validation metric that picks the best checkpoint
    column_roles                      {"text_columns": label, "label_column": label} for the Data tab's pickers
    read(path) -> data.Table          optional: a task-specific reader (default: tuner.data.read_table)
    propose(df) -> dict               guess the columns this task needs from an uploaded table
    inspect(df, cfg) -> dict          validate + statistics + warnings for the Data tab (rows, label_counts,
                                      length_chars, length_tokens_approx, warnings, text_columns, label_column)
    load_splits(cfg) -> Splits        read the configured files into train/validation examples + meta
    build_model(source, meta, dtype=None, attn_implementation=None, **config_overrides)   model with the task head
                                      (config_overrides: from_pretrained config kwargs, e.g. dropout set to 0)
    peft_task_type, modules_to_save(model)                            how the adapter is attached
    encode(split, tokenizer, max_length) -> datasets.Dataset
    collator(tokenizer)               batches for the Trainer
    compute_metrics(meta)             Trainer hook producing the headline metrics during training
    report_from_output(pred_output, splits) -> dict   the full evaluation report saved as metrics.json
    evaluate(trainer, val_ds, splits, cfg) -> dict    optional, replaces the above when the report needs the
                                                      model itself (generation, base model via disable_adapter)
    predict(model, tokenizer, texts, meta, max_length) -> list    inference for Try it and the CLI
    format_prediction(text, result) -> str                        one CLI line per input

Adding a task = adding one module and importing it below.
"""

from __future__ import annotations

from ..errors import ConfigError

_REGISTRY: dict = {}


def register(task):
    _REGISTRY[task.name] = task
    return task


def get_task(name: str):
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown task '{name}'; choose one of: {', '.join(task_names())}.") from None


def task_names() -> list[str]:
    return list(_REGISTRY)


# Each task module registers itself; the order here is the order of the tasks on the page.
# isort: off
from . import classification  # noqa: E402, F401
from . import ner  # noqa: E402, F401
from . import chat  # noqa: E402, F401
# isort: on
