"""Chat and instruction tuning: conversations -> a causal LM adapter trained on the assistant replies only.

Data shapes (detected, or set with `chat.shape`): messages, ShareGPT, Alpaca, prompt/response columns, plain text;
see `tuner.chat_format`. The prompt format is the model's own chat template when its tokenizer has one, else a
built-in one (`chat.template`). Evaluation: held-out loss and perplexity, plus ROUGE-L and BLEU of greedy answers
to a sample of validation prompts, for the finetuned model and for the base model (adapter disabled).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np

from .. import chat_format as cf
from .. import data as data_mod
from .. import skipped as skip
from ..errors import DataError
from . import register
from .classification import Splits, _stats

FEW_ROWS = 50
TOKENS_PER_WORD = 1.3   # English BPE averages ~1.3 tokens per whitespace word
TOKENS_PER_TURN = 6     # role markers and separators a template adds per turn
N_REPORT_SAMPLES = 5    # generated answers kept in the report to read
EVAL_FILE_GENERATIONS = 64  # conversations of an evaluation file answered by both models
MAX_REPLY_ROWS = 5_000  # rows of a file `predict --file` answers (generation is slow)


def approx_tokens(conv: list[dict]) -> int:
    return sum(int(len(m["content"].split()) * TOKENS_PER_WORD) + TOKENS_PER_TURN for m in conv)


class ChatTask:
    name = "chat"
    title = "Chat / instruction tuning"
    demo = "chat"                  # the Chat tab is this task's demo
    selection_metric = "loss"      # Trainer reads eval_loss; a name ending in "loss" means lower is better
    headline_metric = "rouge_l"   # what the verdict compares (tuner/verdict.py)
    floors = ("baseline",)        # report key of what the model must beat
    column_roles = {"text_columns": "Prompt column(s)", "label_column": "Response column"}
    peft_task_type = "CAUSAL_LM"

    # ---- reading ---------------------------------------------------------------------------------
    def read(self, path) -> data_mod.Table:
        """`data.read_table`, plus plain .txt files as documents, and file line numbers for JSON Lines rows."""
        path = Path(path)
        if path.suffix.lower() == ".txt" and not _looks_tabular(path):
            return _read_text_documents(path)
        return data_mod.read_table(path)  # JSON Lines rows carry their file line numbers (tuner.data.row_name)

    def propose(self, df, shape: str = "auto") -> dict:
        p = cf.propose(df, shape)
        return {"text_columns": p["prompt_columns"], "label_column": p["response_column"], "shape": p["shape"]}

    def conversations(self, df, cfg, source: str = "training file", columns=None, skipped_out: list | None = None):
        """(shape, prompt columns, response column, conversations) for a table and a config; unusable rows are
        left out by the shared rules (tuner.skipped), their list appended to `skipped_out`."""
        shape_cfg = cfg.chat.shape
        pcols, rcol = columns if columns else (list(cfg.data.text_columns), cfg.data.label_column)
        if not pcols or (shape_cfg == "pairs" and not rcol):
            proposal = cf.propose(df, shape_cfg)
            pcols = pcols or proposal["prompt_columns"]
            rcol = rcol or proposal["response_column"]
        shape = cf.shape_for_columns(df, shape_cfg, pcols, rcol)
        if shape in ("messages", "sharegpt", "text"):
            rcol = ""
            if shape != "text" and pcols and pcols[0] not in df.columns:
                pcols = cf.propose(df, shape)["prompt_columns"]
        convs = cf.to_conversations(df, shape, pcols, rcol, source=source, strict=cfg.data.strict, skipped_out=skipped_out)
        return shape, pcols, rcol, convs

    def extract(self, df, text_columns, label_column, source: str = "training file") -> list[list[dict]]:
        """The conversations of a second file read with the given columns (the Data tab's validation check)."""
        from ..config import RunConfig

        return self.conversations(df, RunConfig.from_dict({"task": "chat"}), source=source,
                                  columns=(list(text_columns), label_column))[3]

    def matching_columns(self, df, text_columns, label_column):
        if all(c in df.columns for c in [*text_columns, *([label_column] if label_column else [])]):
            return list(text_columns), label_column
        p = cf.propose(df)
        return p["prompt_columns"], p["response_column"]

    def check_validation(self, vdf, info: dict, cfg):
        """The Data tab's look at a validation file, by the same rules as training will read it: (rows, skipped)."""
        cols = self.matching_columns(vdf, info["text_columns"], info["label_column"])
        lists: list = []
        convs = self.conversations(vdf, cfg, source="validation file", columns=cols, skipped_out=lists)[3]
        return len(convs), lists[0]

    def inspect(self, df, cfg) -> dict:
        """Statistics and warnings for the Data tab (raises DataError on a blocking problem)."""
        lists: list = []
        shape, pcols, rcol, convs = self.conversations(df, cfg, skipped_out=lists)
        convs = [cf.with_system(c, cfg.chat.system_prompt) for c in convs]
        chars = np.array([sum(len(m["content"]) for m in c) for c in convs])
        toks = np.array([approx_tokens(c) for c in convs])
        return {
            "task": self.name, "rows": len(convs), "shape": shape, "shape_title": cf.SHAPE_TITLES[shape],
            "text_columns": pcols, "label_column": rcol,
            "label_counts": cf.turn_stats(convs),
            "length_chars": _stats(chars), "length_tokens_approx": _stats(toks),
            "truncated_approx": int((toks > cfg.model.max_length).sum()), "max_length": cfg.model.max_length,
            "warnings": lists[0].warnings() + self._warnings(convs, cfg.model.max_length), "skipped": lists[0],
        }

    def _warnings(self, convs: list[list[dict]], max_length: int) -> list[str]:
        out = []
        if len(convs) < FEW_ROWS:
            out.append(f"Only {len(convs)} conversations: expect the model to copy them rather than generalise; a few hundred help.")
        keys = Counter(tuple((m["role"], m["content"]) for m in c) for c in convs)
        dupes = sum(n - 1 for n in keys.values() if n > 1)
        if dupes:
            out.append(f"{dupes} conversations are exact duplicates; they inflate validation scores if split across train and validation.")
        too_long = sum(1 for c in convs if approx_tokens(c) > max_length)
        if too_long:
            out.append(f"About {too_long} of {len(convs)} conversations are longer than the max length of {max_length} tokens and will be truncated (replies cut short).")
        return out

    def load_splits(self, cfg) -> Splits:
        table = self.read(cfg.data.train_file)
        lists: list = []
        shape, pcols, rcol, convs = self.conversations(table.df, cfg, skipped_out=lists)
        convs = [cf.with_system(c, cfg.chat.system_prompt) for c in convs]
        warnings = list(table.warnings) + lists[0].warnings() + self._warnings(convs, cfg.model.max_length)
        rng = np.random.default_rng(cfg.seed)
        if cfg.data.max_train_rows and len(convs) > cfg.data.max_train_rows:
            keep = sorted(rng.choice(len(convs), cfg.data.max_train_rows, replace=False).tolist())
            convs = [convs[i] for i in keep]
        if cfg.data.validation_file:
            vtable = self.read(cfg.data.validation_file)
            cols = self.matching_columns(vtable.df, pcols, rcol)
            _, _, _, vconvs = self.conversations(vtable.df, cfg, source="validation file", columns=cols, skipped_out=lists)
            warnings += vtable.warnings + lists[-1].warnings()
            vconvs = [cf.with_system(c, cfg.chat.system_prompt) for c in vconvs]
            tconvs = convs
        else:
            if len(convs) < 2:
                raise DataError("The training file has a single conversation; add more rows or a validation file.")
            tr, va = data_mod.stratified_split(["all"] * len(convs), data_mod.held_out_share(cfg.data, len(convs)), cfg.seed)
            tconvs, vconvs = [convs[i] for i in tr], [convs[i] for i in va]
        meta = {"task": self.name, "shape": shape, "template": cfg.chat.template, "system_prompt": cfg.chat.system_prompt,
                "text_columns": pcols, "label_column": rcol, "max_new_tokens": cfg.chat.max_new_tokens}
        # encode() only sees the split dict: it carries the prompt-format settings, and the shared meta and warnings
        # so that encoding can record the template it resolved and how many conversations max_length truncated.
        common = {"template": cfg.chat.template, "_meta": meta, "_warnings": warnings}
        return Splits(
            train={"conversations": tconvs, "packing": cfg.chat.packing, "name": "training", **common},
            validation={"conversations": vconvs, "packing": False, "name": "validation", **common},
            meta=meta, warnings=warnings, skipped=[x for x in lists if x],
        )

    # ---- model -----------------------------------------------------------------------------------
    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None, **config_overrides):
        from transformers import AutoModelForCausalLM

        from ..models import load_pretrained

        kwargs = {"dtype": dtype} if dtype is not None else {}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        kwargs.update(config_overrides)  # e.g. dropout probabilities set to 0 by train.py
        return load_pretrained(AutoModelForCausalLM, source, **kwargs)

    def modules_to_save(self, model) -> list[str]:
        return []  # the LM head and embeddings stay frozen: LoRA on the projections is enough to follow a format

    def encode(self, split: dict, tokenizer, max_length: int):
        """input_ids / attention_mask / labels (-100 outside assistant replies); packed rows carry position_ids.
        Encoded ENCODE_BATCH conversations at a time into Arrow tables (int32 ids), so the Python lists of ids live
        one chunk at a time; packing carries a chunk's last, unfilled row into the next, as one pass would."""
        from datasets import Dataset, concatenate_datasets

        from .classification import ENCODE_BATCH

        cf.ensure_pad_token(tokenizer)
        template = cf.resolve_template(split.get("template", "auto"), tokenizer)
        if "_meta" in split:
            split["_meta"]["template"] = template
        packing = bool(split.get("packing"))
        keys = ("input_ids", "labels", "position_ids") if packing else ("input_ids", "attention_mask", "labels")
        convs = split["conversations"]
        stats = {"conversations": len(convs), "truncated": 0, "dropped": 0, "tokens": 0, "loss_tokens": 0, "rows": 0}
        parts, carry = [], []
        for start in range(0, len(convs), ENCODE_BATCH):
            encoded = [cf.encode(c, template, tokenizer, max_length) for c in convs[start:start + ENCODE_BATCH]]
            kept = [e for e in encoded if any(x != cf.IGNORE for x in e.labels)]
            stats["truncated"] += sum(e.truncated for e in encoded)
            stats["dropped"] += len(encoded) - len(kept)
            stats["tokens"] += sum(len(e.input_ids) for e in kept)
            stats["loss_tokens"] += sum(sum(x != cf.IGNORE for x in e.labels) for e in kept)
            if packing:
                pending = carry + kept
                rows = cf.pack(pending, max_length)
                carry = []
                if rows and start + ENCODE_BATCH < len(convs):  # the last row may still take the next chunk's first
                    last, held = len(rows.pop()["input_ids"]), 0
                    while held < last:
                        carry.insert(0, pending[len(pending) - len(carry) - 1])
                        held += len(carry[0].input_ids)
                columns = {k: [r[k] for r in rows] for k in keys}
            else:
                columns = {"input_ids": [e.input_ids for e in kept], "attention_mask": [[1] * len(e.input_ids) for e in kept],
                           "labels": [e.labels for e in kept]}
            if columns["input_ids"]:
                parts.append(Dataset.from_dict(columns))
                stats["rows"] += len(columns["input_ids"])
        split["stats"] = stats
        truncated, dropped, name = stats["truncated"], stats["dropped"], split.get("name", "training")
        warnings = split.get("_warnings")
        if truncated and warnings is not None:
            warnings.append(f"{truncated} of {len(convs)} {name} conversations are longer than {max_length} tokens and were "
                            f"truncated" + (f"; {dropped} lost every reply token and were left out." if dropped else "."))
        if convs and not parts and name == "training":
            raise DataError(f"Every training conversation loses all of its reply tokens at the max length of {max_length} tokens; raise model.max_length.")
        if not parts:
            return Dataset.from_dict({k: [] for k in keys})
        return parts[0] if len(parts) == 1 else concatenate_datasets(parts)

    def collator(self, tokenizer):
        cf.ensure_pad_token(tokenizer)
        collate = cf.ChatCollator(tokenizer.pad_token_id)
        collate.tokenizer = tokenizer  # evaluate() generates with it (the Trainer is built without a tokenizer)
        return collate

    def compute_metrics(self, meta: dict):
        return None  # eval_loss only: gathering full-vocabulary logits for every token would cost far more memory

    # ---- evaluation ------------------------------------------------------------------------------
    def evaluate(self, trainer, val_ds, splits: Splits, cfg) -> dict:
        """Held-out loss/perplexity and ROUGE-L/BLEU of generated answers: finetuned vs. base (adapter disabled)."""
        tokenizer = getattr(trainer.data_collator, "tokenizer", None)
        if tokenizer is None:
            from .. import models

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
        from ..config import RunConfig
        from ..inference import MAX_FILE_ROWS

        meta = predictor.meta
        df = self.read(path).df
        if len(df) > MAX_FILE_ROWS:
            raise DataError(f"The file has {len(df):,} rows; evaluation takes at most {MAX_FILE_ROWS:,} per file.")
        train_cols = (list(meta.get("text_columns", [])), meta.get("label_column", ""))
        cols = self.matching_columns(df, *train_cols)
        same = cols == train_cols and bool(cols[0])  # the training columns: read the file the same way
        cfg = RunConfig.from_dict({"task": "chat", "chat": {"shape": (meta.get("shape") or "auto") if same else "auto"}})
        lists: list = []
        _, _, _, convs = self.conversations(df, cfg, source="evaluation file", columns=cols, skipped_out=lists)
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

    def predict_file(self, predictor, path, out_path, text_columns=None) -> dict:
        """A reply for every row of a file (its last user turn, or its prompt column(s)); writes a CSV with a
        `reply` column added."""
        import json

        from ..inference import _bounded

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
                    convs[i] = [{"role": "user", "content": _bounded(prompt)}]
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

    # ---- inference -------------------------------------------------------------------------------
    def predict(self, model, tokenizer, texts: list[str], meta: dict, max_length: int, **kw) -> list[str]:
        """One reply per text (a single user turn, with the run's system prompt), greedy."""
        template = cf.resolve_template(meta.get("template", "auto"), tokenizer)
        convs = [cf.with_system([{"role": "user", "content": t}], meta.get("system_prompt", "")) for t in texts]
        return generate_replies(model, tokenizer, convs, template=template,
                                max_new_tokens=kw.get("max_new_tokens", meta.get("max_new_tokens", 128)),
                                max_input=max(max_length, 512))

    def format_prediction(self, text: str, reply: str) -> str:
        return reply


# ---- helpers shared with inference -------------------------------------------------------------------
def _ppl(loss):
    return float(math.exp(min(loss, 50.0))) if loss is not None and math.isfinite(loss) else None


def text_scores(predictions: list[str], references: list[str]) -> dict:
    from .. import metrics

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
    collate = ChatTask().collator(tokenizer)
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


def stop_ids_and_strings(template: str, tokenizer) -> tuple[list[int], list[str]]:
    """End-of-turn markers split into single token ids (fast to stop on) and strings checked on decoded text."""
    ids, strings = [], []
    for s in cf.end_of_turn(template, tokenizer):
        enc = tokenizer(s, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and s in tokenizer.all_special_tokens + list(getattr(tokenizer, "added_tokens_encoder", {})):
            ids.append(enc[0])
        strings.append(s)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids, strings


def cut_at_stop(text: str, stops: list[str]) -> str:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


class StopOnStrings:
    """A stopping criterion: a row is done once its generated text contains a stop string (or `cancel` is set)."""

    def __init__(self, tokenizer, stops: list[str], prompt_len: int, cancel=None):
        self.tokenizer, self.stops, self.prompt_len, self.cancel = tokenizer, [s for s in stops if s], prompt_len, cancel
        self.window = max((len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in self.stops), default=1) + 4

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        done = []
        for row in input_ids[:, self.prompt_len:]:
            tail = self.tokenizer.decode(row[-self.window:], skip_special_tokens=False)
            done.append(any(s in tail for s in self.stops))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def generation_kwargs(tokenizer, template: str, prompt_len: int, max_new_tokens: int, temperature: float = 0.0,
                      top_p: float = 1.0, extra_stops: list[str] | None = None, cancel=None) -> tuple[dict, list[str]]:
    """Keyword arguments for `model.generate` and the stop strings to cut the decoded text at."""
    from transformers import StoppingCriteriaList

    ids, strings = stop_ids_and_strings(template, tokenizer)
    strings = strings + [s for s in (extra_stops or []) if s]
    kw = {"max_new_tokens": int(max_new_tokens), "eos_token_id": ids, "pad_token_id": tokenizer.pad_token_id,
          "stopping_criteria": StoppingCriteriaList([StopOnStrings(tokenizer, strings, prompt_len, cancel)])}
    if temperature and temperature > 0:
        kw.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw, strings


def generate_replies(model, tokenizer, conversations: list[list[dict]], template: str, max_new_tokens: int,
                     max_input: int, batch_size: int = 8, **sampling) -> list[str]:
    """Greedy (or sampled) replies to the last user turn of each conversation, in batches with left padding."""
    import torch

    cf.ensure_pad_token(tokenizer)
    device = next(model.parameters()).device
    prompts = [cf.prompt_ids(c, template, tokenizer)[-max_input:] for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, str] = {}
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(prompts[i])) + prompts[i] for i in idx], device=device)
        mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in idx], device=device)
        kw, stops = generation_kwargs(tokenizer, template, width, max_new_tokens, **sampling)
        with torch.inference_mode():
            seqs = model.generate(input_ids=ids, attention_mask=mask, **kw)
        for i, row in zip(idx, seqs[:, width:].tolist()):
            cut = next((j for j, t in enumerate(row) if t in kw["eos_token_id"]), len(row))
            text = tokenizer.decode(row[:cut], skip_special_tokens=True)
            out[i] = cut_at_stop(text, stops).strip()
    model.train(was_training)
    return [out[i] for i in range(len(prompts))]


# ---- reading helpers -------------------------------------------------------------------------------
def _looks_tabular(path: Path) -> bool:
    """A .txt upload is read as a table only when its first line is a header: 2+ short column names between
    delimiters (e.g. 'prompt<TAB>response'); anything else is prose."""
    import re

    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.readline().strip("\ufeff\r\n")
    except OSError:
        return False
    for delim in ("\t", ",", ";", "|"):
        cells = [c.strip() for c in head.split(delim)]
        if len(cells) >= 2 and all(re.fullmatch(r"[A-Za-z_][\w .-]{0,39}", c) for c in cells):
            return True
    return False


def _read_text_documents(path: Path) -> data_mod.Table:
    import pandas as pd

    data_mod.checked_size(path)
    text, warnings = data_mod.decode_bytes(path.read_bytes(), data_mod.display_name(path))
    blocks = [b.strip() for b in text.split("\n\n")]
    docs = [b for b in blocks if b]
    if len(docs) <= 1:  # no blank lines: one document per line
        docs = [line.strip() for line in text.split("\n") if line.strip()]
    if not docs:
        raise DataError("The text file is empty (0 usable rows); upload a file with some text.")
    return data_mod.Table(pd.DataFrame({"text": docs}), "text", warnings)


TASK = register(ChatTask())
