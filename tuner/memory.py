"""Will the run fit? An estimate of the memory a run needs against what the chosen device has, and the
out-of-memory back-off used by `tuner.train`.

The estimate is arithmetic on the model's config (the model is built on the meta device: no weights are
loaded): weights at their storage size (bf16/fp32, 8-bit, 4-bit), the trainable parameters' fp32 copy,
gradients and two AdamW moments, and activations for the chosen batch and length (per layer about
34 x hidden + 5 x heads x length bytes per token at 16 bits, Korthikanti et al. 2022; doubled in fp32), plus
the logits. It is an estimate: the page says so, and the OOM back-off covers what it misses.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

from . import methods
from .errors import TunerError

log = logging.getLogger(__name__)

GiB = 1024 ** 3
HEADROOM = 0.9  # share of the free memory a run may plan to use


@dataclass
class Estimate:
    weights: int
    trainable_state: int   # fp32 trainable copy + gradients + 2 AdamW moments
    activations: int
    total: int
    trainable_params: int
    total_params: int
    available: int | None  # bytes free on the chosen device (None = unknown)
    device: str

    @property
    def fits(self) -> bool:
        return self.available is None or self.total <= HEADROOM * self.available

    def sentence(self, cfg=None, lang: str = "en") -> str:
        if lang == "zh":
            return self._sentence_zh(cfg)
        need = f"Estimated memory: {fmt(self.total)} (weights {fmt(self.weights)}, adapter + optimizer {fmt(self.trainable_state)}, activations {fmt(self.activations)})"
        if self.available is None:
            return need + f"; the free memory of the {self.device} is unknown."
        have = f"the {self.device} has {fmt(self.available)} free"
        if self.fits:
            return f"{need}; {have}, so it should fit."
        advice = advise(self, cfg)
        return f"{need}, but {have}, so it will not fit: {advice}"

    def _sentence_zh(self, cfg=None) -> str:
        need = (f"预计内存：{fmt(self.total)}（权重 {fmt(self.weights)}，适配器 + 优化器 {fmt(self.trainable_state)}，"
                f"激活 {fmt(self.activations)}）")
        if self.available is None:
            return need + f"；{self.device} 的可用内存未知。"
        have = f"{self.device} 有 {fmt(self.available)} 可用"
        if self.fits:
            return f"{need}；{have}，应该放得下。"
        return f"{need}，但{have}，放不下：{advise(self, cfg, 'zh')}"


def fmt(n: int) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB / 10 else f"{n / 1024 ** 2:.0f} MiB"


def advise(est: Estimate, cfg=None, lang: str = "en") -> str:
    zh = lang == "zh"
    tips = []
    if est.activations > est.weights and cfg is not None and cfg.train.batch_size > 1:
        half, accum = max(1, cfg.train.batch_size // 2), cfg.train.grad_accum * 2
        tips.append(f"调小批大小（例如 {half}，梯度累积 {accum}）或最大长度" if zh else
                    f"lower the batch size (e.g. {half} with gradient accumulation {accum}) or the max length")
    if cfg is not None and cfg.train.quantization != "4bit" and methods.get_method(cfg.adapter.method).kind != "weights":
        tips.append("以 4 位加载基础模型" if zh else "load the base model in 4-bit")
    if cfg is not None and cfg.adapter.method == "full":
        tips.append("用 LoRA 代替全量微调" if zh else "use LoRA instead of full finetuning")
    tips.append("或换一个更小的模型" if zh else "or choose a smaller model")
    return "、".join(tips) + "。" if zh else ", ".join(tips) + "."


# ---- the device ----------------------------------------------------------------------------------
def device_free_bytes(device: str = "auto") -> tuple[str, int | None]:
    """('cuda'|'cpu', free bytes): the first visible GPU's free memory, else the machine's MemAvailable."""
    if device in ("auto", "cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                free, _ = torch.cuda.mem_get_info(0)
                return "GPU", int(free)
        except Exception:  # no usable GPU: fall back to the CPU
            pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return "CPU", int(line.split()[1]) * 1024
    except OSError:
        pass
    return "CPU", None


# ---- the estimate --------------------------------------------------------------------------------
def bytes_per_weight(quantization: str, precision: str) -> float:
    if quantization == "8bit":
        return 1.0
    if quantization == "4bit":
        return 0.5 + 0.0625  # 4 bits + block constants (~0.5 bit per weight; less with double quantization)
    return 2.0 if precision in ("bf16", "fp16") else 4.0


def estimate(cfg, source: str | None = None, meta: dict | None = None, device: str = "auto",
             available: int | None = -1) -> Estimate:
    """Memory the run needs. `source`: a resolved model folder/id (default: resolve cfg.model.name);
    `meta`: task meta (labels) if known; `available=-1` reads the device."""
    import torch

    from . import models
    from .tasks import get_task

    source = source or models.resolve(cfg.model.name)
    task = get_task(cfg.task)
    meta = dict(meta or {})
    meta.setdefault("labels", ["a", "b"])
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    with models.meta_device():
        model = _meta_model(task, config, meta)
        model = models.attach_adapter(model, cfg.adapter, task.peft_task_type, task.modules_to_save(model),
                                      total_steps=100)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    precision = cfg.train.precision if cfg.train.precision != "auto" else models.pick_precision("auto")
    frozen = total - trainable
    weights = int(frozen * bytes_per_weight(cfg.train.quantization, precision))
    state = int(trainable * (4 + 4 + 8))
    hidden = int(getattr(config, "hidden_size", None) or getattr(config, "n_embd", 0) or 0)
    layers = int(getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 0) or 0)
    heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 1) or 1)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    b, s = max(cfg.train.batch_size, cfg.train.max_batch_size), cfg.model.max_length  # the batch may grow on big data
    if cfg.adapter.method in ("prefix_tuning", "prompt_tuning", "p_tuning"):
        s += cfg.adapter.num_virtual_tokens
    act_bytes = 2 if precision in ("bf16", "fp16") else 4
    per_layer = s * b * (34 * hidden + 5 * heads * s) * act_bytes / 2
    acts = layers * per_layer
    if task.generative:
        acts += 3 * b * s * vocab * 4  # logits over the vocabulary, their fp32 upcast and the loss's softmax
    activations = int(acts)
    need = weights + state + activations
    dev_name = "GPU" if device == "cuda" else "CPU"
    if available == -1:
        dev_name, available = device_free_bytes(device)
    del model, torch
    return Estimate(weights, state, activations, need, trainable, total, available, dev_name)


def _meta_model(task, config, meta):
    import transformers

    auto = getattr(transformers, task.auto_class)
    if task.label_head:
        config.num_labels = len(meta["labels"])
    return auto.from_config(config)


# ---- reading the data ----------------------------------------------------------------------------
# What reading an upload costs the training process over its own memory (tuner.data.read_table, then the task's
# checks of every row): READ_PER_BYTE bytes for each byte of the file, READ_BASE, and READ_PER_ROW bytes for each
# row. An upper bound over CSVs of 10-190 MB and 0.2-1 million rows with the reader of 2026-12-03 (pandas' C
# engine fed from a str: ~7.8x the file + ~130 MB), 25-35% above what a 1,000,000-row 188 MB file took
# (bench/memory_large_file.py; the figures are in docs/performance.md). Tokenizing then takes about
# TOKENIZED_PER_ROW bytes for each row the run uses while it runs (~35 tokens a row; 230 bytes a row stay, in Arrow).
READ_PER_BYTE = 6.0
READ_BASE = 150 * 1024 ** 2
READ_PER_ROW = 250
TOKENIZED_PER_ROW = 700


def file_shape(path) -> tuple[int, int] | None:
    """(bytes, rows) of an upload as reading will see it: a Parquet file's uncompressed size and row count from its
    footer; for text, its size and its count of lines (a bound on its rows). None when it cannot be opened."""
    from pathlib import Path

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(path).metadata
                return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), meta.num_rows
            fh.seek(0)
            lines, last = 0, b"\n"
            while chunk := fh.read(1 << 24):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return size, lines + (last != b"\n")
    except Exception:  # a file that cannot be looked at is left to the reader's own sentence
        return None


def reading_need(size: int, rows: int) -> int:
    """Bytes of memory that reading a file of `size` bytes and `rows` rows takes (see READ_PER_BYTE)."""
    return int(READ_PER_BYTE * size + READ_BASE + READ_PER_ROW * rows)


def available_memory() -> int | None:
    """Bytes this machine can still give a process: /proc/meminfo's MemAvailable, or less where the process's
    cgroup (a container's memory limit) leaves less; None when neither can be read."""
    _, free = device_free_bytes("cpu")
    limit = _cgroup_room()
    if free is None:
        return limit
    return free if limit is None else min(free, limit)


def _cgroup_room() -> int | None:
    """The memory limit of this process's cgroup (v2 or v1) minus what the group uses, not counting the page cache
    the kernel can drop (inactive files); None without a limit."""
    from pathlib import Path

    def number(path: Path) -> int | None:
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def stat(path: Path, key: str) -> int:
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key and value.strip().isdigit():
                    return int(value)
        except OSError:
            pass
        return 0

    try:
        groups = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in groups:
        _, controllers, where = line.split(":", 2)
        if controllers == "":  # v2: memory.max / memory.current
            files = (Path("/sys/fs/cgroup") / where.lstrip("/"), Path("/sys/fs/cgroup"))
            names = ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):  # v1: memory.limit_in_bytes / memory.usage_in_bytes
            files = (Path("/sys/fs/cgroup/memory") / where.lstrip("/"), Path("/sys/fs/cgroup/memory"))
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        for folder in files:
            limit, used = number(folder / names[0]), number(folder / names[1])
            if limit is not None and used is not None:
                if limit >= 1 << 60:  # no limit set
                    return None
                return max(0, limit - used + stat(folder / "memory.stat", names[2]))
    return None


def _size_text(n: float) -> str:
    return f"{n / GiB:.1f} GB" if n >= GiB else f"{n / 1024 ** 2:.0f} MB"


def rows_that_fit(size: int, rows: int, available: int, processes: int = 1) -> int:
    """Rows of a file like this one (`size` bytes, `rows` rows) that `processes` processes can read in HEADROOM of
    `available` bytes."""
    if not rows:
        return 0
    per_row = (READ_PER_BYTE * size / rows + READ_PER_ROW) * processes
    return max(0, int((HEADROOM * available - READ_BASE * processes) / per_row))


def reading_refusal(size: int, rows: int, need: int, available: int, fit: int, files: int = 1) -> tuple[str, str]:
    """The sentence (English, Chinese) that refuses to read `files` file(s) of `size` bytes and `rows` rows, of
    which about `fit` rows would fit."""
    what = f"The file is {_size_text(size)}; reading it" if files == 1 else \
        f"The files are {_size_text(size)} together; reading them"
    what_zh = f"文件大小为 {_size_text(size)}；读取它" if files == 1 else f"这些文件合计 {_size_text(size)}；读取它们"
    fit = int(float(f"{fit:.2g}")) if fit >= 100 else fit  # two significant figures: a size to aim for
    if fit >= 1000:
        advice = f"upload a sample of at most about {fit:,} of its {rows:,} rows, or free some memory"
        advice_zh = f"请上传不超过约 {fit:,} 行的样本（共 {rows:,} 行），或释放一些内存"
    else:
        advice = "free some memory (stop other runs or programs) or train on a machine with more"
        advice_zh = "请释放一些内存（停止其他运行或程序），或换一台内存更大的机器训练"
    return (f"{what} needs about {_size_text(need)} of memory and this machine has {_size_text(available)} free; "
            f"{advice}.",
            f"{what_zh}大约需要 {_size_text(need)} 内存，而这台机器只有 {_size_text(available)} 可用；{advice_zh}。")


def check_reading(cfg, available: int | None = -1) -> None:
    """Before the training process reads its data: one sentence (TunerError) when reading the training and
    validation files would take more than HEADROOM of the memory left (`available=-1` reads it). Every process
    of a data-parallel run on this machine reads the files, so the local main process checks for all of them."""
    if int(os.environ.get("LOCAL_RANK", "0")) != 0:
        return
    shapes = [file_shape(p) for p in (cfg.data.train_file, cfg.data.validation_file) if p]
    shapes = [s for s in shapes if s is not None]
    if not shapes:
        return
    size, rows = sum(s[0] for s in shapes), sum(s[1] for s in shapes)
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    need = reading_need(size, rows) * processes
    if available == -1:
        available = available_memory()
    log.info("reading %d bytes (%d rows) needs about %s; %s available", size, rows, fmt(need),
             "unknown" if available is None else fmt(available))
    if available is None or need <= HEADROOM * available:
        return
    sentence, zh = reading_refusal(size, rows, need, available, rows_that_fit(size, rows, available, processes),
                                   len(shapes))
    raise TunerError(sentence, zh=zh)


# ---- out of memory -------------------------------------------------------------------------------
def is_oom(exc: BaseException) -> bool:
    """CUDA / CPU / MPS out-of-memory errors (accelerate's own test), including torch.OutOfMemoryError."""
    import torch
    from accelerate.utils.memory import should_reduce_batch_size

    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return should_reduce_batch_size(exc)


def back_off(cfg, run=None, exc: BaseException | None = None):
    """cfg with half the batch and double the accumulation (same effective batch); at batch size 1 one
    sentence saying what to change. Frees cached memory and records the new values in the run."""
    import gc

    bs, accum = cfg.train.batch_size, cfg.train.grad_accum
    if bs <= 1:
        raise TunerError("The run ran out of memory even at batch size 1; lower the max length, load the model in "
                         "4-bit, use LoRA instead of full finetuning, or choose a smaller model.")
    new_bs = bs // 2
    new_accum = max(1, round(accum * bs / new_bs))
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
    log.warning("out of memory at batch size %d (%r); retrying with %d x %d", bs, exc, new_bs, new_accum)
    if run is not None and int(os.environ.get("RANK", "0")) == 0:
        msg = (f"Out of memory at batch size {bs}; retrying with batch size {new_bs} and gradient accumulation "
               f"{new_accum} (same effective batch).")
        run.append_event({"type": "oom_backoff", "batch_size": new_bs, "grad_accum": new_accum, "message": msg})
        run.set_status(batch_size=new_bs, grad_accum=new_accum, message=msg)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=new_bs, grad_accum=new_accum))
