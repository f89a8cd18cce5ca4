"""How long a run will take on this machine, said before it starts.

A short speed probe: the run's own data (a sample of its training rows, tokenized), the run's own model with its
adapter attached (`tuner.train.build_for_training`, same precision), a few real optimizer steps at the batch
widths the run will see (batches cut as training cuts them, tuner/sampling.py), and one validation pass's worth of
forward work. Step time is fitted as a line in the tokens per batch, so short and long batches both count.
The CLI prints the sentence in its first lines (`train --estimate` prints it and exits); the Train tab shows it
before Start. Accuracy against real runs: docs/quality.md.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time

SAMPLE_ROWS = 4096      # training rows tokenized to learn the length distribution
PROBE_SECONDS = 20.0    # the timed steps stop early past this


@dataclasses.dataclass
class Estimate:
    seconds: float            # training: steps plus the validation passes during training
    steps: int
    seconds_per_step: float
    eval_seconds: float       # one validation pass
    evals: int                # validation passes during training
    epochs: float             # passes over the training rows the schedule plans
    probe_seconds: float
    min_seconds: float | None = None    # early stopping: the shortest run (one pass over the rows)
    limit_share: float | None = None    # a time limit: the share of the schedule it covers

    def sentence(self, lang: str = "en") -> str:
        if lang == "zh":
            return self._sentence_zh()
        text = (f"Estimated training time on this machine: about {duration(self.seconds)} "
                f"({self.steps:,} steps of {self.seconds_per_step:.2f} s")
        if self.evals:
            text += f", {self.evals} validation passes of {duration(self.eval_seconds)}"
        text += f"; {self.epochs:.1f} passes over the data), from a {self.probe_seconds:.0f}-second speed probe."
        if self.min_seconds is not None and self.min_seconds < self.seconds * 0.95:
            text += (f" Early stopping can end it sooner, after no less than one pass "
                     f"(about {duration(self.min_seconds)}).")
        if self.limit_share is not None:
            if self.limit_share >= 1:
                text += " The time limit covers the whole schedule."
            else:
                text += (f" The time limit covers only about {100 * self.limit_share:.0f}% of it "
                         f"({self.limit_share * self.epochs:.2f} passes over the data); set no limit "
                         "(max minutes 0) for a complete run.")
        return text

    def _sentence_zh(self) -> str:
        text = (f"本机上的预计训练时间：约 {duration(self.seconds, 'zh')}（{self.steps:,} 步，每步 {self.seconds_per_step:.2f} 秒")
        if self.evals:
            text += f"，{self.evals} 次验证，每次 {duration(self.eval_seconds, 'zh')}"
        text += f"；遍历数据 {self.epochs:.1f} 遍），根据 {self.probe_seconds:.0f} 秒的测速得出。"
        if self.min_seconds is not None and self.min_seconds < self.seconds * 0.95:
            text += f"提前停止可能让它更早结束，但至少会遍历一遍数据（约 {duration(self.min_seconds, 'zh')}）。"
        if self.limit_share is not None:
            if self.limit_share >= 1:
                text += "时间上限足够跑完整个训练计划。"
            else:
                text += (f"时间上限只够跑完其中约 {100 * self.limit_share:.0f}%（遍历数据 {self.limit_share * self.epochs:.2f} "
                         "遍）；要完整训练，请不设上限（最长分钟数设为 0）。")
        return text

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def duration(seconds: float, lang: str = "en") -> str:
    seconds = max(0.0, float(seconds))
    zh = lang == "zh"
    if seconds < 1:
        return "不到 1 秒" if zh else "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} 秒" if zh else f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} 分钟" if zh else f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} 小时" if zh else f"{seconds / 3600:.1f} h"


def estimate(cfg, source: str | None = None, probe_seconds: float = PROBE_SECONDS) -> Estimate:
    """Time a few training steps of this config on this machine; see the module docstring."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the probe's model load is not news: no load report, no progress bar
    hf_logging.disable_progress_bar()
    try:
        return _estimate(cfg, source, probe_seconds)
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _estimate(cfg, source: str | None, probe_seconds: float) -> Estimate:
    import numpy as np
    import torch

    from . import models
    from .sampling import batch_plan, class_labels
    from .tasks import get_task
    from .tasks.common import split_rows, subset
    from .train import build_for_training, grown_batch, plan_steps

    t_start = time.perf_counter()
    task = get_task(cfg.task)
    splits = task.load_splits(cfg)
    source = source or models.resolve(cfg.model.name)
    tokenizer = models.load_tokenizer(source)
    precision = models.pick_precision(cfg.train.precision)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    world = _world_size(cfg)
    n_train = split_rows(splits.train)
    rng = random.Random(cfg.seed)
    idx = sorted(rng.sample(range(n_train), min(n_train, SAMPLE_ROWS)))
    sample = task.encode(subset(splits.train, idx), tokenizer, cfg.model.max_length)
    lengths = [len(x) for x in sample["input_ids"]]
    n_rows = len(sample)  # tasks that pack or drop rows report their own count
    scale = n_train / max(1, len(idx))
    cfg = grown_batch(cfg, int(n_rows * scale), world)
    plan = plan_steps(cfg, int(n_rows * scale), world)
    batch = cfg.train.batch_size
    model, _, _ = build_for_training(cfg, task, splits.meta, source, tokenizer, precision, device, plan["steps"])
    model.to(device)
    collator = task.collator(tokenizer)
    batches = batch_plan(lengths, class_labels(sample), batch, cfg.train.group_by_length, cfg.seed)
    tokens = [len(b) * w for b, w in batches]
    mean_tokens = float(np.mean(tokens)) if tokens else 0.0

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.train.learning_rate) if params else None
    autocast = torch.autocast(device, dtype=torch.bfloat16) if precision == "bf16" else _null()

    def step(rows: list[int]) -> float:
        features = [sample[i] for i in rows]
        inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in collator(features).items()}
        t0 = time.perf_counter()
        with autocast:
            out = model(**inputs)
        loss = out["loss"] if isinstance(out, dict) else out[0]
        loss.backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    model.train()
    order = sorted(range(len(batches)), key=lambda i: tokens[i])
    picks = [order[int(q * (len(order) - 1))] for q in (0.5, 0.5, 0.9, 0.2, 0.75, 0.35)] if order else []
    xs, ys = [], []
    t_probe = time.perf_counter()
    for n, i in enumerate(picks):
        took = step(batches[i][0])
        if n:  # the first step builds kernels and warms caches: not timed
            xs.append(tokens[i])
            ys.append(took)
        if n >= 3 and time.perf_counter() - t_probe > probe_seconds:
            break
    per_step = _fit(xs, ys, mean_tokens) * cfg.train.grad_accum
    eval_seconds, evals = _eval_time(task, splits, tokenizer, cfg, model, device, autocast, plan)
    train_seconds = plan["steps"] * per_step + evals * eval_seconds
    one_pass = math.ceil(n_rows * scale / (batch * cfg.train.grad_accum * world))
    min_seconds = None
    if cfg.train.early_stopping and evals and one_pass < plan["steps"]:
        min_seconds = one_pass * per_step + evals * eval_seconds * one_pass / plan["steps"]
    limit = cfg.train.max_minutes * 60 / train_seconds if cfg.train.max_minutes and train_seconds else None
    model = optimizer = None  # the probe's model and optimizer go before the result is built
    return Estimate(seconds=train_seconds, steps=plan["steps"], seconds_per_step=per_step, eval_seconds=eval_seconds,
                    evals=evals, epochs=plan["examples"] / max(1.0, n_rows * scale),
                    probe_seconds=time.perf_counter() - t_start, min_seconds=min_seconds, limit_share=limit)


def _fit(xs: list[float], ys: list[float], at: float) -> float:
    """Seconds per step at `at` tokens from (tokens, seconds) points: a line where the widths differ."""
    import numpy as np

    if not ys:
        return 0.0
    if len(set(xs)) < 2:
        return float(np.median(ys))
    slope, icept = np.polyfit(xs, ys, 1)
    if slope <= 0:
        return float(np.median(ys))
    return float(max(slope * at + icept, min(ys) * 0.5))


def _eval_time(task, splits, tokenizer, cfg, model, device, autocast, plan) -> tuple[float, int]:
    """(seconds of one validation pass, passes during training): one forward batch timed, scaled by tokens."""
    import torch

    from .tasks.common import split_rows, subset

    n_val = split_rows(splits.validation)
    if not n_val or not cfg.train.evals:
        return 0.0, 0
    evals = plan["steps"] // plan["eval_steps"]
    rng = random.Random(cfg.seed + 1)
    idx = sorted(rng.sample(range(n_val), min(n_val, SAMPLE_ROWS)))
    ds = task.encode(subset(splits.validation, idx), tokenizer, cfg.model.max_length)
    lengths = [len(x) for x in ds["input_ids"]]
    size = min(cfg.train.eval_batch_size, len(ds))
    rows = sorted(range(len(ds)), key=lambda i: lengths[i])
    mid = len(rows) // 2
    pick = rows[max(0, mid - size // 2): max(0, mid - size // 2) + size]
    collator = task.collator(tokenizer)
    inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in collator([ds[i] for i in pick]).items()}
    model.eval()
    with torch.inference_mode(), autocast:
        model(**inputs)
        t0 = time.perf_counter()
        model(**inputs)
        took = time.perf_counter() - t0
    model.train()
    batch_tokens = len(pick) * max(lengths[i] for i in pick)
    width = sum(lengths) / len(lengths) if task.sort_validation else None
    per_row_tokens = width if width else _mean_batch_width(lengths, cfg.train.eval_batch_size)
    total_tokens = n_val * per_row_tokens
    return took / max(1, batch_tokens) * total_tokens, evals


def _mean_batch_width(lengths: list[int], batch: int) -> float:
    """Average padded width per row when rows are batched in file order."""
    widths = [max(lengths[i:i + batch]) * len(lengths[i:i + batch]) for i in range(0, len(lengths), batch)]
    return sum(widths) / max(1, len(lengths))


def _world_size(cfg) -> int:
    from . import jobs

    try:
        return max(1, int(jobs.run_launch(cfg.train).get("num_processes", 1)))
    except Exception:  # the estimate assumes one process when the launch cannot be planned
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
