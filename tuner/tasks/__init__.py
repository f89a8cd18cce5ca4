"""Task registry. Each task module has the same shape and registers itself:

    name, title                      identity
    propose(df) -> dict              guess the columns this task needs from an uploaded table
    inspect(df, cfg) -> dict         validate + statistics + warnings for the upload page
    load_splits(cfg) -> Splits       read the configured files into train/validation examples
    build_model(cfg, splits)         model with the task head + tokenizer (before the adapter)
    encode(splits, tokenizer, cfg)   tokenised datasets.Dataset objects
    collator(tokenizer)              batches for the Trainer
    compute_metrics(labels)          Trainer hook producing the headline metrics
    report(cfg, preds, refs, meta)   the full evaluation report (per label, confusion, baselines)
    predict(model, tokenizer, texts, meta)   inference for the Try-it tab and CLI

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


from . import classification  # noqa: E402,F401  (registers itself)
