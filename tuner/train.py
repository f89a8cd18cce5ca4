"""The training process: config -> data -> model -> Trainer(+callbacks) -> adapter + evaluation report.

Started by `tuner.jobs` as `accelerate launch ... -m tuner.train <run>/config.yaml`; never imported by the UI.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
import traceback
from pathlib import Path

from . import environment
from .config import RunConfig
from .cpu import malloc as cpu_malloc
from .errors import TunerError, user_message
from .progress import PhaseClock, StopRequested
from .runs import Run
from .tasks.common import split_rows, subset

log = logging.getLogger("tuner.train")


SKIPPED_ROWS = "skipped_rows.csv"  # in the run folder: every row the readers left out, and why


MAX_PASSES = 10  # `train.min_steps` never takes more passes over the rows than this


def plan_steps(cfg: RunConfig, n_train: int, world_size: int = 1) -> dict:
    """Total optimizer steps from epochs (raised for small data by `train.min_steps`), the example cap, batch
    size, accumulation and devices."""
    per_step = cfg.train.batch_size * cfg.train.grad_accum * world_size
    examples = cfg.train.epochs * n_train
    if cfg.train.min_steps and examples < cfg.train.min_steps * per_step:  # small data: more passes, at most 10
        examples = max(examples, min(cfg.train.min_steps * per_step, MAX_PASSES * n_train))
    if cfg.train.max_examples:  # an explicit cap, like a time limit: the verdict says when it cut the first pass
        examples = min(examples, cfg.train.max_examples)
    steps = max(1, math.ceil(examples / per_step))
    evals = cfg.train.evals
    eval_steps = max(1, math.ceil(steps / (evals + 1))) if evals else steps
    logging_steps = cfg.train.logging_steps or max(1, steps // 50)
    return {"steps": steps, "eval_steps": eval_steps, "logging_steps": logging_steps, "examples": examples,
            "warmup_steps": int(round(cfg.train.warmup_fraction * steps))}


GROWN_BATCH_MIN_STEPS = 1000  # a grown batch still leaves the run this many optimizer steps


def grown_batch(cfg: RunConfig, n_train: int, world_size: int = 1, quiet: bool = False) -> RunConfig:
    """`train.max_batch_size`: on large data the batch doubles from `batch_size` (up to that size) while the run
    keeps GROWN_BATCH_MIN_STEPS steps, and the learning rate grows with the square root of the batch. Small sets
    keep the recipe's batch and rate. The same config comes back where nothing grows."""
    t = cfg.train
    batch = t.batch_size
    while batch * 2 <= t.max_batch_size:
        doubled = dataclasses.replace(t, batch_size=batch * 2)
        if plan_steps(dataclasses.replace(cfg, train=doubled), n_train, world_size)["steps"] < GROWN_BATCH_MIN_STEPS:
            break
        batch *= 2
    if batch == t.batch_size:
        return cfg
    lr = t.learning_rate * math.sqrt(batch / t.batch_size)
    if not quiet:
        log.info("batch %s -> %s for %s training rows (learning rate %.3g -> %.3g)", t.batch_size, batch, n_train,
                 t.learning_rate, lr)
    return dataclasses.replace(cfg, train=dataclasses.replace(t, batch_size=batch, learning_rate=lr))


# ---- the rows a run uses ----------------------------------------------------------------------------
# Only the rows the plan can reach are tokenized (a 1,000,000-row file capped at 64 examples tokenizes 64 rows,
# not 1,000,000), in a seeded sample that keeps every label's share; docs/performance.md has the memory figures.

def rows_used(cfg: RunConfig, n_rows: int, world_size: int = 1) -> int:
    """Training rows a run can reach: its plan's examples (epochs x rows, capped by `train.max_examples`) rounded up
    to whole optimizer steps, on the batch `grown_batch` picks for `n_rows`, and never more than `n_rows`. Fewer than
    every row only when the cap (or a fraction of an epoch) ends the run inside its first pass."""
    grown = grown_batch(cfg, n_rows, world_size, quiet=True)
    plan = plan_steps(grown, n_rows, world_size)
    per_step = grown.train.batch_size * grown.train.grad_accum * world_size
    return min(n_rows, plan["steps"] * per_step)


def sample_indices(n_rows: int, n: int, seed: int, labels=None) -> list[int]:
    """`n` of `n_rows` row indices, ascending: a seeded sample, stratified by `labels` (one class id per row) when
    given. Every label keeps its share of the rows (largest remainders) and at least one row while `n` allows; the
    rows of each label are taken in one seeded order, so a seed always gives the same rows, and a larger `n` keeps
    them all."""
    import numpy as np

    if n >= n_rows:
        return list(range(n_rows))
    rng = np.random.default_rng(seed)
    if labels is None or len(labels) != n_rows:
        return sorted(rng.permutation(n_rows)[:n].tolist())
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(inverse)
    groups = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    exact = counts * n / n_rows
    quota = np.floor(exact).astype(int)
    if n >= len(counts):
        quota = np.maximum(quota, 1)  # every label keeps a row
    else:  # fewer rows than labels: one row each for the n largest labels
        quota[:] = 0
        quota[np.argsort(-counts, kind="stable")[:n]] = 1
    while quota.sum() > n:  # the minimum of one row pushed the total over: take from the largest quotas
        quota[int(np.argmax(quota))] -= 1
    while quota.sum() < n:  # the rest by largest remainder
        room = np.where(quota < counts, exact - quota, -np.inf)
        quota[int(np.argmax(room))] += 1
    picks = [rng.permutation(group)[:q] for group, q in zip(groups, quota)]  # one draw per label, in label order
    return sorted(np.concatenate(picks).tolist())


def sample_split(split: dict, n: int, seed: int) -> dict:
    """`split` cut to `n` rows by `sample_indices`, stratified by its class ids where it has one per row."""
    n_rows = split_rows(split)
    labels = split.get("label")
    labels = labels if isinstance(labels, list) and len(labels) == n_rows else None
    return subset(split, sample_indices(n_rows, n, seed, labels))


def capped_validation(splits, cfg: RunConfig) -> dict:
    """The validation split, cut to `data.validation_max_rows` rows by `sample_split` when it has more (a large
    validation file; a held-out share is capped when it is split off). The cut is added to the run's warnings."""
    cap, n = cfg.data.validation_max_rows, split_rows(splits.validation)
    if not cap or n <= cap:
        return splits.validation
    splits.warnings.append(f"The validation data has {n:,} rows; a sample of {cap:,} of them (data.validation_max_rows, "
                           "every label kept) is scored.")
    return sample_split(splits.validation, cap, cfg.seed + 1)


def row_lengths(dataset) -> list[int]:
    """Tokens in each row of an encoded dataset, read from its Arrow offsets (no Python list of ids per row)."""
    if hasattr(dataset, "with_format"):
        import pyarrow.compute as pc

        return pc.list_value_length(dataset.with_format("arrow")["input_ids"]).to_numpy(zero_copy_only=False).tolist()
    return [len(ids) for ids in dataset["input_ids"]]


def trainer_class():
    """transformers' Trainer, counting its FLOPs from a parameter count taken once: the stock
    `floating_point_ops` walks every module of the model at every step (~2% of a MiniLM step on the CPU)."""
    from transformers import Trainer

    class StudioTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            """Length-grouped batches that keep the label mix (tuner/sampling.py) for one-label-per-row data;
            transformers' own sampler otherwise."""
            from .sampling import MixedLengthSampler, class_labels

            dataset = train_dataset if train_dataset is not None else self.train_dataset
            labels = class_labels(dataset) if self.args.train_sampling_strategy == "group_by_length" else None
            if labels is None:
                return super()._get_train_sampler(train_dataset)
            lengths = row_lengths(dataset)
            return MixedLengthSampler(lengths, labels, self.args.train_batch_size * self.args.gradient_accumulation_steps)

        def _get_eval_sampler(self, eval_dataset):
            """Validation rows in their own order (classification sorts them by length, so batches are tight):
            with length grouping on, the stock sampler reshuffles them into batches padded to the longest row of
            the split (3x slower evaluations on SMS spam)."""
            import torch

            if eval_dataset is not None and self.args.world_size <= 1:
                return torch.utils.data.SequentialSampler(eval_dataset)
            return super()._get_eval_sampler(eval_dataset)

        def floating_point_ops(self, inputs) -> int:
            ids = inputs.get(getattr(self.model, "main_input_name", "input_ids"))
            if ids is None or not hasattr(self.model, "num_parameters"):
                return 0
            if getattr(self, "_weights", None) is None:
                self._weights = self.model.num_parameters(exclude_embeddings=True)
            return 6 * ids.numel() * self._weights

    return StudioTrainer


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def build_for_training(cfg: RunConfig, task, meta: dict, source: str, tokenizer, precision: str, device: str,
                       total_steps: int):
    """The model as training uses it: the task's model (frozen base weights in bf16 where that is fast, 8/4-bit
    when asked), the PEFT method attached, ready for training. Returns (model, kv_cache, compiled_blocks).
    The time estimate (tuner.estimate) times steps of exactly this model."""
    import torch

    from . import methods, models, quantize

    # Frozen base weights in bf16 halve memory traffic (about 2x faster steps on AVX512-BF16 CPUs); the
    # trainable adapter and head stay fp32 so the optimizer keeps full precision.
    overrides = {} if cfg.train.model_dropout else models.no_dropout_overrides(source)
    quant = quantize.quantization_kwargs(cfg.train, precision, device)  # {} unless 8/4-bit was chosen
    model = task.build_model(source, meta, dtype=torch.bfloat16 if precision == "bf16" else None,
                             attn_implementation=models.fast_attention(), **overrides, **quant)
    if quant:
        model = quantize.prepare(model, device)
    model = models.attach_adapter(model, cfg.adapter, task.peft_task_type, task.modules_to_save(model),
                                  total_steps=total_steps)
    kv_cache, compiled = models.ready_for_training(model, precision == "bf16", cfg.train.compile, device)
    models.add_token_dropout(model, tokenizer, cfg.train.token_dropout)
    if methods.get_method(cfg.adapter.method).kind == "weights" and task.compares_with_base:
        methods.keep_base_tensors(model)  # the report answers with the base model too (chat)
    return model, kv_cache, compiled


def phase(run: Run, main: bool, name: str, clock=None, **parts) -> None:
    """What the run is doing now, for the page and the CLI before the first step (and after the last): starting
    (tuner.jobs), reading, tokenizing, baseline, loading, training, saving, evaluating. `parts` are the numbers the
    phase is worded with (tuner.progress.PHASES); the event's English `message` (logs, older readers) is the
    page's own sentence. A stop asked for before the first training step ends the run here (`clock`, a
    tuner.progress.PhaseClock)."""
    if clock is not None:
        with clock.lock:
            clock.check()  # the phase that ends: a stop asked for during it
            clock.phase = name
    if main:
        message = phase_sentence(name, parts)
        run.set_status(phase=name, message=message, phase_parts=parts)
        run.append_event({"type": "phase", "phase": name, "message": message, **parts})


def phase_sentence(name: str, parts: dict) -> str:
    from .progress import fill, message

    return fill(*message({"state": "running", "phase": name, "phase_parts": parts}))


def counting_tokenizer(run: Run, main: bool, tokenizer, clock, rows: int):
    """The tokenizer for the tasks' `encode`: it counts the rows and tokens it makes and, once a second, writes them
    as a `tokenizing` phase event (the page shows them as they grow); it checks the stop file between batches."""
    from .progress import CountingTokenizer

    def report(done_rows: int, tokens: int) -> None:
        if main:
            parts = {"rows": rows, "done_rows": done_rows, "tokens": tokens}
            run.set_status(phase_parts=parts)
            run.append_event({"type": "phase", "phase": "tokenizing", "message": phase_sentence("tokenizing", parts),
                              **parts})

    return CountingTokenizer(tokenizer, report, clock)


def run_facts(task, splits, cfg: RunConfig, tokenizer=None) -> dict:
    """Facts the verdict reads later: training rows per label, and the language check of the text."""
    from . import language

    out: dict = {}
    label_rows = task.rows_per_label(splits)
    if label_rows:
        out["label_rows"] = label_rows
    texts = task.texts(splits.train)
    if texts:
        found = language.check(texts, cfg.model.name, tokenizer)
        if found:
            out["language"] = found
    return out


def train(cfg: RunConfig, run: Run, callbacks=(), clock=None) -> dict:
    """`callbacks`: extra TrainerCallbacks (tests use one to raise a fake out-of-memory error); `clock`: the
    tuner.progress.PhaseClock that turns a stop before the first step into StopRequested."""
    import numpy as np
    import torch
    from transformers import set_seed

    from . import memory, methods, models
    from .callbacks import EarlyStopCallback, EventsCallback, NonFiniteLossCallback, StopCallback, TimeBudgetCallback
    from .cpu import frozen_int8
    from .cpu.throughput import SpeedMeter, TokenCounter
    from .tasks import get_task

    set_seed(cfg.seed)
    task = get_task(cfg.task)
    main = is_main_process()
    phase(run, main, "reading", clock)
    memory.check_reading(cfg)  # one sentence, before reading, when this machine cannot hold the file as it is read
    splits = task.load_splits(cfg)
    if main and splits.skipped:  # the rows left out of the files, for the page's download (tuner.skipped)
        from .skipped import write_lists

        write_lists(splits.skipped, run.path / SKIPPED_ROWS)
    source = models.resolve(cfg.model.name)
    tokenizer = models.load_tokenizer(source)
    precision = models.pick_precision(cfg.train.precision)
    use_cpu = not torch.cuda.is_available()
    device = "cpu" if use_cpu else "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    n_rows = split_rows(splits.train)
    facts = run_facts(task, splits, cfg, tokenizer)  # label counts and language of every training row
    # Tokenize only the rows the plan can reach (packed chat rows are counted after packing: all are kept).
    used = n_rows if splits.train.get("packing") else rows_used(cfg, n_rows, world)
    train_split = sample_split(splits.train, used, cfg.seed) if used < n_rows else splits.train
    splits.validation = capped_validation(splits, cfg)
    if used < n_rows:
        phase(run, main, "tokenizing", clock, rows=used, total_rows=n_rows)
    else:
        phase(run, main, "tokenizing", clock, rows=n_rows)
    counting = counting_tokenizer(run, main, tokenizer, clock, used)
    train_ds = task.encode(train_split, counting, cfg.model.max_length)
    val_ds = task.encode(splits.validation, counting, cfg.model.max_length)
    if task.sort_validation and len(val_ds) > 1:  # short rows batched together: less padding
        order = np.argsort(row_lengths(val_ds), kind="stable").tolist()
        val_ds = val_ds.select(order)
    n_plan = n_rows if used < n_rows else len(train_ds)  # a sample keeps the plan of every row (epochs < 1 too)
    cfg = grown_batch(cfg, n_plan, world)
    plan = plan_steps(cfg, n_plan, world)
    floors = {}
    if main and len(val_ds) and task.classical_floor is not None:
        phase(run, main, "baseline", clock)
        floors = task.classical_floor(splits)  # every training row, up to tuner.classical's MAX_ROWS / MAX_CHARS
    splits.train = train_split  # the report and the floors that need the model read the rows it trained on
    shown = ("all-MiniLM-L6-v2 (bundled)" if cfg.model.name == "default"
             else Path(cfg.model.name).name if Path(cfg.model.name).is_dir() else cfg.model.name)
    phase(run, main, "loading", clock, model=shown)
    model, kv_cache, compiled = build_for_training(cfg, task, splits.meta, source, tokenizer, precision, device,
                                                   plan["steps"])
    trainable, total = models.count_parameters(model)
    has_val = len(val_ds) > 0

    info = {"model": cfg.model.name, "precision": precision, "train_rows": n_plan, "tokenized_rows": len(train_ds),
            "validation_rows": len(val_ds), "trainable_params": trainable, "total_params": total,
            "world_size": world, "device": "cuda" if not use_cpu else "cpu", "warnings": splits.warnings,
            "method": cfg.adapter.method, "quantization": cfg.train.quantization,
            "batch_size": cfg.train.batch_size, "grad_accum": cfg.train.grad_accum, "compiled_blocks": compiled,
            "learning_rate": cfg.train.learning_rate, "planned_steps": plan["steps"],
            **facts, **({"floors": floors} if floors else {})}
    if is_main_process():
        run.set_status(trainable_params=trainable, total_params=total, method=cfg.adapter.method,
                       batch_size=cfg.train.batch_size, grad_accum=cfg.train.grad_accum)
    resume = run.newest_checkpoint() if cfg_resume_requested(run) else None
    trainer_cls = trainer_class()
    while True:  # out of memory: halve the batch, double accumulation (same effective batch), try again
        args = _training_args(cfg, run, plan, precision, use_cpu, has_val, world)
        collator = TokenCounter(task.collator(tokenizer))
        events = EventsCallback(run, info, SpeedMeter(collator, model, device, world, precision))
        stop, guard = StopCallback(run), NonFiniteLossCallback()
        extra = [methods.adalora_callback(model)] if cfg.adapter.method == "adalora" else []
        if cfg.train.max_minutes:
            extra.append(TimeBudgetCallback(cfg.train.max_minutes, cfg.train.evals if has_val else 0, run))
        early = None
        if cfg.train.early_stopping and has_val and cfg.train.evals:
            early = EarlyStopCallback(cfg.train.early_stopping, run)
        if early is not None:
            extra.append(early)
        trainer = trainer_cls(
            model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds if has_val else None,
            data_collator=collator, compute_metrics=task.compute_metrics(splits.meta),
            callbacks=[events, stop, guard, *extra, *callbacks],
            optimizers=(methods.make_optimizer(model, cfg.adapter, cfg.train.learning_rate, cfg.train.weight_decay), None),
        )
        eval_errors = guard_evaluation(trainer, run, get_task(cfg.task).selection_metric)
        phase(run, main, "training", clock)
        t0 = time.time()
        try:
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
            break
        except Exception as exc:  # only out-of-memory errors are retried
            if not (cfg.train.oom_backoff and memory.is_oom(exc)):
                raise
            del trainer
            cfg = memory.back_off(cfg, run, exc)  # raises one sentence at batch size 1
            info.update(batch_size=cfg.train.batch_size, grad_accum=cfg.train.grad_accum)
            plan = plan_steps(cfg, n_plan, world)
    train_seconds = time.time() - t0
    if main:  # a stop asked for from here on is a new request: it ends the final evaluation
        run.stop_path.unlink(missing_ok=True)
    models.uncompile_blocks(model)
    frozen_int8.remove(model)  # the int8 copies of the frozen weights (AVX2 CPUs): evaluation and saving use fp32
    models.set_kv_cache(model, kv_cache)
    log.info("rank %s of %s trained %s steps", os.environ.get("RANK", "0"), world, trainer.state.global_step)
    if guard.bad_step is not None:
        raise TunerError(f"The training loss became NaN or infinite at step {guard.bad_step}; lower the learning rate and start again.")

    result = {"train_seconds": round(train_seconds, 1), "steps": trainer.state.global_step, "stopped": stop.stopped,
              "planned_steps": trainer.state.max_steps, "early_stopped": bool(early is not None and early.fired_at)}
    if clock is not None:
        clock.result = result  # a stop during the final evaluation still ends with the steps trained
    if trainer.is_world_process_zero():
        phase(run, main, "saving", clock)
        save_adapter(trainer.model, tokenizer, run, cfg, splits.meta)
    # Under data parallel the evaluation gathers across processes: every rank takes part, rank 0 writes.
    phase(run, main, "evaluating", clock)
    report = evaluate_and_report(trainer, task, val_ds, splits, cfg) if has_val else {}
    if not trainer.is_world_process_zero():
        return result
    adapter_bytes = methods.folder_size(run.adapter_dir)
    report.update(result, trainable_params=trainable, total_params=total, train_precision=precision,
                  method=cfg.adapter.method, quantization=cfg.train.quantization, adapter_bytes=adapter_bytes,
                  batch_size=cfg.train.batch_size, grad_accum=cfg.train.grad_accum, world_size=world)
    run.set_status(adapter_bytes=adapter_bytes, batch_size=cfg.train.batch_size, grad_accum=cfg.train.grad_accum)
    if eval_errors and "evaluation_error" not in report:
        report["evaluation_warning"] = eval_errors[0]
    if report and "evaluation_error" not in report:
        report.update(floors)
        report["verdict"] = run_verdict(run, task, report)
    from .runs import write_json_atomic

    write_json_atomic(run.metrics_path, report)
    return result


def run_verdict(run: Run, task, report: dict) -> dict:
    """The one-sentence verdict (tuner.verdict) for this run's report."""
    from . import verdict

    facts = verdict.facts_from_run(run, report)
    return verdict.judge(report, facts, task.headline_metric, task.floors)


def _training_args(cfg, run, plan, precision, use_cpu, has_val, world):
    from transformers import TrainingArguments

    from .tasks import get_task

    best = has_val and cfg.train.evals > 0
    return TrainingArguments(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=cfg.train.batch_size, per_device_eval_batch_size=cfg.train.eval_batch_size,
        gradient_accumulation_steps=cfg.train.grad_accum, learning_rate=cfg.train.learning_rate,
        max_steps=plan["steps"], warmup_steps=plan["warmup_steps"], lr_scheduler_type=cfg.train.lr_scheduler,
        weight_decay=cfg.train.weight_decay, seed=cfg.seed, data_seed=cfg.seed,
        bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=use_cpu,
        logging_steps=plan["logging_steps"], logging_nan_inf_filter=False,
        eval_strategy="steps" if has_val else "no", eval_steps=plan["eval_steps"],
        save_strategy="steps", save_steps=plan["eval_steps"], save_total_limit=cfg.train.save_total_limit,
        load_best_model_at_end=best, metric_for_best_model=get_task(cfg.task).selection_metric if best else None,
        train_sampling_strategy="group_by_length" if cfg.train.group_by_length else "random",
        optim="adamw_torch_fused",  # one kernel for all adapter tensors: ~3% faster CPU steps (bench/train_throughput.py)
        report_to=report_targets(run), disable_tqdm=True, dataloader_num_workers=0, remove_unused_columns=False,
        # Classifier / tagger heads return a per-example mean and ignore num_items_in_batch; with the token
        # averaging on, the Trainer would multiply their loss by the number of processes (2x under 2-way DP).
        average_tokens_across_devices=get_task(cfg.task).generative,
    )


def report_targets(run: Run) -> list[str]:
    """Trackers for this run: TensorBoard logs in <run>/tensorboard (`tensorboard --logdir runs/`) when the
    package is installed, and Weights & Biases only when `wandb` imports and WANDB_API_KEY is set."""
    import importlib.util

    targets = []
    if importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX") is not None:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run.path / "tensorboard")  # read by TensorBoardCallback
        targets.append("tensorboard")
    if os.environ.get("WANDB_API_KEY"):
        try:
            import wandb  # noqa: F401
        except ImportError:
            pass
        else:
            os.environ.setdefault("WANDB_PROJECT", "tuner")
            os.environ.setdefault("WANDB_NAME", run.id)
            targets.append("wandb")
    return targets


def guard_evaluation(trainer, run: Run, selection_metric: str) -> list[str]:
    """Make an evaluation during training that fails (a metric error, out of memory) a logged, named event
    instead of the end of the run: that evaluation scores NaN (never the best checkpoint) and training goes on.
    Returns the list the failure sentences are collected in."""
    errors: list[str] = []
    evaluate = trainer.evaluate
    key = "eval_" + selection_metric.removeprefix("eval_")

    def guarded(*args, **kwargs):
        try:
            return evaluate(*args, **kwargs)
        except Exception as exc:  # training results are kept whatever happens here
            log.exception("evaluation during training failed")
            message = f"An evaluation during training failed ({type(exc).__name__}) at step {trainer.state.global_step}; training went on."
            errors.append(message)
            if trainer.is_world_process_zero():
                run.append_event({"type": "eval_error", "step": trainer.state.global_step, "message": message})
            return {key: float("nan")}

    trainer.evaluate = guarded
    return errors


def failure_message(exc: BaseException) -> str:
    """The one sentence a failed run shows; a full disk or a write error is named as such."""
    import errno

    seen, cur = set(), exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        text = str(cur)
        if (isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left on device" in text:
            return ("The disk is full (the run could not write its checkpoint, adapter or log); free space and press "
                    "Resume to go on from the newest complete checkpoint (the earlier ones are kept).")
        if isinstance(cur, OSError) and cur.errno in (errno.EROFS, errno.EACCES, errno.EIO):
            return ("The run could not write to its folder (a write error); check the disk and its permissions, "
                    "then resume the run (the earlier checkpoints are kept).")
        cur = cur.__cause__ or cur.__context__
    return user_message(exc)


def cfg_resume_requested(run: Run) -> bool:
    return bool(run.status().get("resume"))


def save_adapter(model, tokenizer, run: Run, cfg: RunConfig, meta: dict) -> None:
    """PEFT adapter (safetensors) + tokenizer + what inference needs to rebuild the base model."""
    import shutil

    from . import methods

    tmp = run.path / "adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:  # written beside the old adapter and swapped in only when complete: a write error keeps the old one
        methods.save(model, tmp, cfg.adapter.method)  # PEFT adapter, or the trained tensors (full / freeze)
        tokenizer.save_pretrained(str(tmp))
        (tmp / "tuner_meta.json").write_text(json.dumps({
            **meta, "base_model": cfg.model.name, "max_length": cfg.model.max_length, "method": cfg.adapter.method,
        }, indent=1), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if run.adapter_dir.exists():
        import shutil

        shutil.rmtree(run.adapter_dir)
    os.replace(tmp, run.adapter_dir)


def evaluate_and_report(trainer, task, val_ds, splits, cfg) -> dict:
    """Score the validation split; a failure here is reported but the saved adapter stays usable."""
    try:
        report = task.evaluate(trainer, val_ds, splits, cfg)  # tasks that need the model itself (generation, ...)
        if report is None:
            out = trainer.predict(val_ds)
            report = task.report_from_output(out, splits)
            report["eval_loss"] = out.metrics.get("test_loss")
        return {"task": task.name, **report} if "task" not in report else report
    except Exception as exc:  # training results are kept whatever happens here
        log.exception("evaluation failed")
        return {"evaluation_error": f"Evaluation failed ({type(exc).__name__}); the adapter was saved and can still be used."}


def lower_priority() -> None:
    """Train at a lower CPU priority than the page: a free machine trains just as fast, and on a busy one the Try it
    and Chat tabs keep answering quickly while a run trains. Two steps: nice TUNER_TRAIN_NICE (default 19), then,
    on Linux, the SCHED_IDLE policy (TUNER_TRAIN_SCHED=idle, the default; `normal` keeps the usual policy), under
    which any ordinary thread that wakes takes the core at once instead of sharing it by niceness weights.
    Threads started later (torch's thread pool) inherit both."""
    try:
        os.nice(max(0, min(19, environment.get("TUNER_TRAIN_NICE"))))
    except (OSError, ValueError):
        log.warning("could not lower the training priority")
    if environment.get("TUNER_TRAIN_SCHED") == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            log.warning("could not set the SCHED_IDLE policy for training")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(argv) != 1:
        print("usage: python -m tuner.train <run folder>/config.yaml", file=sys.stderr)
        return 2
    run = Run(Path(argv[0]).resolve().parent)
    cpu_malloc.keep_freed_memory()  # 1.06-1.10x faster CPU steps: freed activations stay for the next step
    main_proc = is_main_process()
    if main_proc:  # a stop asked for while the process started stays asked for (tuner.jobs removes a stale one)
        run.set_status(state="running", pid=os.getpid(), started=time.time())
    clock = PhaseClock(run.stop_path)
    clock.watch()
    try:
        cfg = RunConfig.load(run.config_path)
        result = train(cfg, run, clock=clock)
    except (StopRequested, KeyboardInterrupt) as exc:
        if not (clock.interrupted or isinstance(exc, StopRequested)):
            raise  # Ctrl-C in a terminal
        if main_proc:
            finish_stopped(run, clock)
        return 0
    except Exception as exc:  # every failure ends as a status with one sentence
        log.error("training failed:\n%s", traceback.format_exc())
        if main_proc:
            message = failure_message(exc)
            run.set_status(state="failed", ended=time.time(), message=message, outcome="failed")
            run.append_event({"type": "status", "state": "failed", "message": message})
        return 1
    finally:
        clock.close()
    if main_proc:
        finish(run, result)
    return 0


def finish(run: Run, result: dict) -> None:
    """The run's last status: completed or stopped, its sentence timed by the status line's own clock
    (tuner.progress.elapsed: from the launch to now), then the evaluation's and the verdict's sentences."""
    from .progress import OUTCOMES, elapsed, fill, fmt_duration

    ended = time.time()
    state = "stopped" if result.get("stopped") else "completed"
    outcome = "stopped" if state == "stopped" else "early_stopped" if result.get("early_stopped") else "finished"
    status = run.status()
    took = elapsed({**status, "state": state, "ended": ended})
    msg = fill(OUTCOMES[outcome], {"steps": result["steps"], "time": fmt_duration(took),
                                    "planned": result.get("planned_steps")})
    report = run.metrics() or {}
    failed_eval = report.get("evaluation_error")
    if failed_eval:
        msg += " " + failed_eval
    verdict = report.get("verdict") or {}
    if verdict.get("sentence"):
        msg += " " + verdict["sentence"]
    run.set_status(state=state, ended=ended, message=msg, resume=False, phase="done", outcome=outcome,
                   steps=result["steps"], planned_steps=result.get("planned_steps"), verdict=verdict.get("level", ""))
    run.append_event({"type": "status", "state": state, "message": msg})


def finish_stopped(run: Run, clock) -> None:
    """A stop before the first training step (nothing to save), or during the final evaluation (adapter saved)."""
    from .progress import OUTCOMES

    done = getattr(clock, "result", None)
    outcome = "stopped_evaluating" if done is not None else "stopped_before_training"
    msg = OUTCOMES[outcome]
    fields = {"steps": done["steps"]} if done else {}
    log.info("stopped by request in the %s phase", clock.phase)
    run.set_status(state="stopped", ended=time.time(), message=msg, resume=False, phase="done", outcome=outcome,
                   **fields)
    run.append_event({"type": "status", "state": "stopped", "message": msg})


if __name__ == "__main__":  # the training child started by tuner.jobs
    lower_priority()
    sys.exit(main())
