"""The chat report: held-out loss and perplexity, and ROUGE-L / BLEU of greedy answers to a sample of validation
prompts, for the finetuned model beside the base model (adapter disabled); the same for a file of conversations."""

from __future__ import annotations

import contextlib
import math
import random

from ...errors import DataError
from ..common import MAX_FILE_ROWS, Splits
from . import format as cf
from .generate import generate_replies
from .model import chat_collator

N_REPORT_SAMPLES = 5    # generated answers kept in the report to read
EVAL_FILE_GENERATIONS = 64  # conversations of an evaluation file answered by both models


class ChatMetrics:
    """compute_metrics, evaluate, evaluate_file, summarize, report_notes, report_rows (tuner.tasks.base.Task)."""

    def compute_metrics(self, meta: dict):
        return None  # eval_loss only: gathering full-vocabulary logits for every token would cost far more memory

    def evaluate(self, trainer, val_ds, splits: Splits, cfg) -> dict:
        """Held-out loss/perplexity and ROUGE-L/BLEU of generated answers: finetuned vs. base (adapter disabled)."""
        tokenizer = getattr(trainer.data_collator, "tokenizer", None)
        if tokenizer is None:
            from ... import models

            tokenizer = models.load_tokenizer(models.resolve(cfg.model.name))
            cf.ensure_pad_token(tokenizer)
        autocast = getattr(getattr(trainer, "accelerator", None), "autocast", None)
        template = cf.resolve_template(splits.meta.get("template", "auto"), tokenizer)
        sample = generation_sample(splits.validation["conversations"], cfg.chat.eval_samples, cfg.seed)
        with (autocast() if callable(autocast) else contextlib.nullcontext()):
            report = compare_with_base(trainer.model, tokenizer, val_ds, sample, template, cfg.model.max_length,
                                       cfg.chat.max_new_tokens, cfg.train.eval_batch_size)
        report.update(shape=splits.meta.get("shape"), n_examples=len(splits.validation["conversations"]))
        report["data"] = {"training": splits.train.get("stats", {}), "validation": splits.validation.get("stats", {})}
        return report

    def evaluate_file(self, predictor, path) -> dict:
        """The same report for a file of conversations (`python -m tuner eval <run> file`): loss on every
        conversation, generated answers on a sample of them."""
        meta = predictor.meta
        df = self.read(path).df
        if len(df) > MAX_FILE_ROWS:
            raise DataError(f"The file has {len(df):,} rows; evaluation takes at most {MAX_FILE_ROWS:,} per file.")
        train_cols = (list(meta.get("text_columns", [])), meta.get("label_column", ""))
        cols = self.matching_columns(df, *train_cols)
        same = cols == train_cols and bool(cols[0])  # the training columns: read the file the same way
        shape = (meta.get("shape") or "auto") if same else "auto"
        lists: list = []
        _, _, _, convs = self.read_conversations(df, shape, cols, "evaluation file", skipped_out=lists)
        convs = [cf.with_system(c, meta.get("system_prompt", "")) for c in convs]
        split = {"conversations": convs, "template": predictor.template, "name": "evaluation"}
        max_length = int(meta.get("max_length", 512))
        ds = self.encode(split, predictor.tokenizer, max_length)
        sample = generation_sample(convs, EVAL_FILE_GENERATIONS, 0)
        report = predictor.compute(compare_with_base, predictor.model, predictor.tokenizer, ds, sample, predictor.template,
                                   max_length, int(meta.get("max_new_tokens", 128)), 8, base=predictor.base_weights)
        report.update(n_examples=len(convs), data={"evaluation": split.get("stats", {})})
        if lists[0]:
            report["left_out"] = lists[0].as_report()
        return report

    def summarize(self, report: dict) -> str:
        """Held-out loss/perplexity and ROUGE-L/BLEU of generated answers, finetuned beside the base model."""
        base = report.get("baseline", {})

        def num(value, fmt):
            return format(value, fmt) if isinstance(value, (int, float)) else "–"

        lines = [f"{'':>16}  {'finetuned':>10}  {'base model':>10}"]
        for key, fmt in (("eval_loss", ".4f"), ("perplexity", ".2f"), ("rouge_l", ".4f"), ("bleu", ".4f")):
            lines.append(f"{key:>16}  {num(report.get(key), fmt):>10}  {num(base.get(key), fmt):>10}")
        lines.append(f"{report.get('n_examples', 0)} conversations scored ({report.get('eval_tokens', 0):,} reply tokens); "
                     f"{report.get('n_generated', 0)} answered by both models; template {report.get('template', '?')}.")
        return "\n".join(lines)

    def report_notes(self, report: dict) -> str:
        train_stats = (report.get("data") or {}).get("training", {})
        return (f" {report.get('eval_tokens', 0):,} reply tokens scored; {report.get('n_generated', 0)} prompts answered "
                f"by both models (greedy); template {report.get('template', '?')}; "
                f"{train_stats.get('truncated', 0)} of {train_stats.get('conversations', '?')} training conversations truncated.")

    def report_rows(self, report: dict) -> list[dict] | None:
        """Sample answers (prompt, reference, finetuned, base) in place of a per-label report."""
        if report.get("samples"):
            return [{k: s.get(k) for k in ("prompt", "reference", "finetuned", "base")} for s in report["samples"]]
        return report.get("per_label") or None


def _ppl(loss):
    return float(math.exp(min(loss, 50.0))) if loss is not None and math.isfinite(loss) else None


def text_scores(predictions: list[str], references: list[str]) -> dict:
    from ... import metrics

    if not predictions:
        return {"rouge_l": None, "bleu": None}
    rouge = metrics.load("rouge").compute(predictions=predictions, references=references)["rougeL"]
    bleu = metrics.load("bleu").compute(predictions=predictions, references=[[r] for r in references])["bleu"]
    return {"rouge_l": float(rouge), "bleu": float(bleu)}


def compare_with_base(model, tokenizer, dataset, sample: list[list[dict]], template: str, max_input: int,
                      max_new_tokens: int, batch_size: int, base=None) -> dict:
    """Loss on `dataset` and answers to `sample` (each conversation's last reply is the reference), with the
    adapter and without. `model` is a PeftModel, or a merged model with `base`: a context manager factory
    inside which it answers as the base model (Predictor.base_weights)."""
    base = base or model.disable_adapter
    collate = chat_collator(tokenizer)
    tuned_loss, n_tokens = heldout_loss(model, dataset, collate, batch_size)
    with base():
        base_loss, _ = heldout_loss(model, dataset, collate, batch_size)
    prompts = [conv[:-1] for conv in sample]
    refs = [conv[-1]["content"] for conv in sample]
    gen = dict(template=template, max_new_tokens=max_new_tokens, max_input=max_input, batch_size=min(8, batch_size))
    tuned = generate_replies(model, tokenizer, prompts, **gen) if sample else []
    with base():
        base = generate_replies(model, tokenizer, prompts, **gen) if sample else []
    report = {"task": "chat", "template": template, "eval_tokens": n_tokens, "n_generated": len(sample),
              "max_new_tokens": max_new_tokens, "eval_loss": tuned_loss, "perplexity": _ppl(tuned_loss),
              **text_scores(tuned, refs)}
    report["baseline"] = {"name": "base model (adapter disabled)", "eval_loss": base_loss, "perplexity": _ppl(base_loss),
                          **text_scores(base, refs)}
    report["samples"] = [{"prompt": p[-1]["content"], "reference": r, "finetuned": t, "base": b}
                         for p, r, t, b in list(zip(prompts, refs, tuned, base))[:N_REPORT_SAMPLES]]
    return report


def generation_sample(conversations: list[list[dict]], n: int, seed: int) -> list[list[dict]]:
    """Up to n validation conversations ending in an assistant reply (the reply is the reference)."""
    usable = [c for c in conversations if len(c) >= 2 and c[-1]["role"] == "assistant"]
    if n <= 0 or not usable:
        return []
    rng = random.Random(seed)
    return usable if len(usable) <= n else rng.sample(usable, n)


def heldout_loss(model, dataset, collate, batch_size: int) -> tuple[float | None, int]:
    """Token-weighted mean cross-entropy over every label that is not -100 (no cross-process gathering)."""
    import torch

    if dataset is None or len(dataset) == 0:
        return None, 0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    rows = dataset.to_list()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in collate(rows[start:start + batch_size]).items()}
            labels = batch.pop("labels")
            logits = model(**batch).logits.float()
            logits = logits[:, -labels.shape[1]:]  # prompt/P-tuning prepend virtual tokens to the outputs
            shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
            mask = shift_labels != cf.IGNORE
            if mask.any():
                loss = torch.nn.functional.cross_entropy(shift_logits[mask], shift_labels[mask], reduction="sum")
                total += float(loss)
                count += int(mask.sum())
    model.train(was_training)
    return (total / count if count else None), count
