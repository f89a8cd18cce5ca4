"""RunConfig: the one source of truth for a run. Defaults live here; recipes are small YAML overrides.

Every field carries `metadata={"help": ...}` (shown by the UI and CLI) and, where it applies, `min`, `max`
or `choices`, which `validate()` enforces server-side whatever a widget allowed.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .methods import METHODS  # the method table gives the choices
from .safe_text import clean_name

MAX_STRING = 1000  # longest string value accepted for any field


def _f(default, help, **meta):
    """A dataclass field with help text and validation metadata."""
    meta["help"] = help
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    train_file: str = _f("assets/support_tickets.csv", "Training data: CSV, TSV, JSON, JSONL or Parquet.")
    validation_file: str = _f("", "Optional validation file; empty = hold out a stratified share of the training data.")
    text_columns: list[str] = _f([], "Column(s) holding the text; two or more are joined (e.g. title + body). Empty = detect.")
    label_column: str = _f("", "Column holding the label. Empty = detect.")
    validation_fraction: float = _f(0.1, "Share of the training rows held out for validation when no validation file is given.", min=0.01, max=0.5)
    validation_max_rows: int = _f(2000, "Hold out at most this many rows (large sets train on the rest: 2,000 rows already measure accuracy to about 1 point); 0 = no cap.", min=0, max=10_000_000)
    strict: bool = _f(False, "Refuse a file with any unusable row (no label, no text, a broken record) instead of leaving such rows out with a counted warning; off = a file is refused only when over 10% of its rows are unusable.")
    max_train_rows: int = _f(0, "Use at most this many training rows (a random sample); 0 = all.", min=0, max=10_000_000)
    tag_scheme: str = _f("auto", "How the tags in your file are written; auto = detect it (BIO, IOB1, BIOES/BILOU or IO; every scheme is trained as BIO).", choices=["auto", "BIO", "IOB1", "BIOES", "IO"])
    repair_tags: bool = _f(False, "Fix tags that break the scheme (an I-ORG right after O becomes B-ORG); off = keep them and report how many.")
    case_feature: bool = _f(True, "Tell the model which words start with a capital letter, a strong clue for names; models that ignore case, such as the default, need it. (Through the token-type input.)")
    label_separator: str = _f("auto", "Multi-label: how a row's labels are written; auto = detect a list (a JSON list or list column) or a ';', '|' or ',' between labels; none = one label per row.", choices=["auto", ";", "|", ",", "list", "none"])


@dataclass
class ModelConfig:
    name: str = _f("default", "The pretrained model to start from: 'default' is the small bundled English model (works offline); a local folder or a Hugging Face Hub id (needs a network) also works.")
    max_length: int = _f(128, "How much of each text the model reads, in tokens (a token is about ¾ of an English word); longer texts are cut. Shorter = faster.", min=8, max=8192)


@dataclass
class AdapterConfig:
    method: str = _f("lora", "How the model learns: LoRA, the usual choice, trains a small add-on beside the frozen model. Others: "
                     + ", ".join(m for m in METHODS if m != "lora" and METHODS[m].kind != "weights")
                     + " (peft), or full / freeze (baselines that train the model's own weights).", choices=list(METHODS))
    r: int = _f(16, "Size of the small add-on the model learns: higher learns more but needs more memory; 8 to 32 suits most data.", min=1, max=1024)
    alpha: float = _f(32.0, "How strongly the add-on changes the model; usually twice the size (r). (LoRA scales its update by alpha / r.)", min=0.0, max=10_000.0)
    dropout: float = _f(0.0, "Randomly hides part of the add-on's input while training, against learning the training rows by heart; 0 is fastest (any value above 0 makes CPU steps about 1.7x slower).", min=0.0, max=0.9)
    target_modules: list[str] = _f([], "Which layers of the model get the add-on; empty = all the usual ones (every attention and MLP projection found in the model).")
    use_rslora: bool = _f(False, "LoRA: steadier learning when the size (r) is large. (rsLoRA: scales by alpha / sqrt(r) instead of alpha / r.)")
    use_dora: bool = _f(False, "LoRA: often better results at small sizes (r), with slower steps. (DoRA: learns each weight's magnitude apart from its direction.)")
    loraplus_lr_ratio: float = _f(0.0, "LoRA: learn faster by giving half of the add-on a higher learning rate, this many times higher (16 is typical); 0 = off. (LoRA+: the B matrices' rate.)", min=0.0, max=1000.0)
    adalora_init_r: int = _f(12, "AdaLoRA: the size every layer starts with; training trims it down to r where a layer needs less.", min=1, max=1024)
    num_virtual_tokens: int = _f(20, "Prefix / prompt / P-tuning: how many learned extra tokens are put before every input; more = learns more, longer inputs.", min=1, max=512)
    freeze_layers: int = _f(0, "Freeze: how many of the model's last layers are trained with its new output layer; 0 = only the output layer.", min=0, max=1000)


@dataclass
class TrainConfig:
    learning_rate: float = _f(1e-3, "How big each learning step is: too high and training jumps around, too low and it learns slowly; the recipe's value is a good start. (Peak rate; LoRA takes about 10x the rate of full finetuning.)", min=1e-8, max=1.0, exclusive_min=0.0)
    epochs: float = _f(3.0, "How many times the model reads all the training rows: more learns more and takes longer (fractions allowed). Small files get more passes (up to 10) where the recipe sets a minimum number of steps.", min=0.01, max=1000.0)
    min_steps: int = _f(0, "Small data: train at least this many optimizer steps, taking more passes over the rows (at most 10 in all); early stopping still ends the run when the validation score stops improving. 0 = off.", min=0, max=1_000_000)
    max_examples: int = _f(0, "Stop after the model has read this many rows in total (for large data: sizes the schedule); 0 = no cap.", min=0, max=100_000_000)
    batch_size: int = _f(16, "How many rows the model learns from at once: larger is faster per row but needs more memory. (Per optimizer step and device.)", min=1, max=4096)
    max_batch_size: int = _f(0, "For large data: let the batch grow up to this size to finish sooner (it doubles while 1,000+ steps remain; learning rate x1.41 per doubling); 0 = off.", min=0, max=4096)
    max_minutes: float = _f(0.0, "The longest the training may take, in minutes: the run measures its own speed and shortens itself to finish in time; 0 = no limit.", min=0.0, max=100_000.0)
    grad_accum: int = _f(1, "Micro-batches accumulated per optimizer step (effective batch = batch_size x grad_accum x devices).", min=1, max=1024)
    eval_batch_size: int = _f(64, "Examples per forward pass during evaluation.", min=1, max=4096)
    warmup_fraction: float = _f(0.06, "Share of the steps spent warming the learning rate up from 0.", min=0.0, max=0.5)
    weight_decay: float = _f(0.01, "L2-style decay on trainable weights.", min=0.0, max=1.0)
    lr_scheduler: str = _f("linear", "Learning-rate shape after warm-up.", choices=["linear", "cosine", "constant"])
    precision: str = _f("auto", "Number format for training: auto picks bf16 where the hardware runs it fast.", choices=["auto", "bf16", "fp16", "fp32"])
    early_stopping: int = _f(0, "Stop early once the score on held-out rows has not improved for this many checks in a row (never before every training row was read once); the best model is kept. 0 = train the whole schedule.", min=0, max=1000)
    evals: int = _f(4, "How many times the model is checked on held-out rows while it trains (plus once at the end).", min=0, max=1000)
    logging_steps: int = _f(0, "Log the training loss every N steps; 0 = about 50 points per run.", min=0, max=100_000)
    model_dropout: bool = _f(False, "Keep the base model's own dropout during training. Off by default: under LoRA it regularises little and its random masks make CPU steps much slower.")
    token_dropout: float = _f(0.0, "Share of the input sub-tokens replaced by the unknown token in each training batch: a regulariser that costs almost nothing on the CPU (unlike dropout masks) and teaches a tagger to read names from their context.", min=0.0, max=0.5)
    compile: str = _f("auto", "torch.compile each transformer block (one compile serves every layer) to fuse the small operations around the matrix products; auto = on a GPU only, where it pays back its ~1 minute of compiling (on a CPU of few cores it costs more than a short run saves).", choices=["auto", "on", "off"])
    group_by_length: bool = _f(True, "Batch texts of similar length together: less padding, faster steps.")
    save_total_limit: int = _f(2, "Checkpoints kept on disk (the newest ones).", min=1, max=100)
    quantization: str = _f("none", "Store the model in 8 or 4 bits to save memory, for large models on a GPU; none = as it is. (bitsandbytes LLM.int8 / QLoRA on the frozen base weights; adapter methods only.)", choices=["none", "8bit", "4bit"])
    quant_type: str = _f("nf4", "4-bit: the number format; nf4 suits model weights best, fp4 is the alternative.", choices=["nf4", "fp4"])
    double_quant: bool = _f(True, "4-bit: also compress the compression constants, saving a little more memory (~0.4 bit per weight).")
    compute_dtype: str = _f("auto", "4-bit: the number format the maths runs in; auto = bf16 where the hardware is fast at it, else fp32.", choices=["auto", "bf16", "fp16", "fp32"])
    gpus: str = _f("all", "Which GPUs to train on: all, none (train on the CPU) or a list of GPU numbers such as 0,1; one process per GPU (data parallel).")
    processes: int = _f(0, "How many training processes share the work; 0 = one per chosen GPU (1 on the CPU). (N > 1 on the CPU = data parallel over gloo.)", min=0, max=64)
    accelerate_config: str = _f("", "An accelerate config file (multi-node, DeepSpeed ZeRO-2/3, FSDP) passed to accelerate launch as is; empty = built from gpus/processes.")
    oom_backoff: bool = _f(True, "On an out-of-memory error halve the batch size and double gradient accumulation (same effective batch) and try again.")


@dataclass
class ChatConfig:
    shape: str = _f("auto", "How the chat data is laid out: auto = detect; messages (role/content lists), sharegpt (from/value lists), alpaca (instruction/input/output), pairs (prompt and response columns), text (plain text for continued pretraining).",
                    choices=["auto", "messages", "sharegpt", "alpaca", "pairs", "text"])
    template: str = _f("auto", "Prompt format: auto = the model's own chat template when its tokenizer has one, else chatml; or model, chatml, llama-3, alpaca, plain.",
                       choices=["auto", "model", "chatml", "llama-3", "alpaca", "plain"])
    system_prompt: str = _f("", "System turn added to every conversation that has none, in training and in the Chat tab; empty = none.")
    packing: bool = _f(False, "Pack several short conversations into each max-length row (fewer padding tokens, faster epochs); each still attends only to itself.")
    eval_samples: int = _f(16, "Validation conversations the base and the finetuned model answer after training, scored with ROUGE-L and BLEU; 0 = skip.", min=0, max=1000)
    max_new_tokens: int = _f(128, "Longest generated answer in tokens, for the evaluation and as the Chat tab's default.", min=1, max=4096)


@dataclass
class RunConfig:
    task: str = _f("classification", "What the model learns to do: sort texts into labels, find names in text, chat, or tag texts with several labels.")
    name: str = _f("", "A display name for the run (the folder gets a server-made id).")
    seed: int = _f(42, "A number that fixes the random choices (which rows are held out, the starting weights, the order): the same seed gives the same run.", min=0, max=2**31 - 1)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)

    # ---- YAML in and out -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict | None, base: "RunConfig | None" = None) -> "RunConfig":
        cfg = _merge(base or cls(), data or {}, "")
        if cfg.name != clean_name(cfg.name):  # no ANSI escapes, newlines or other control characters in a run name
            cfg = dataclasses.replace(cfg, name=clean_name(cfg.name))
        validate(cfg)
        return cfg

    @classmethod
    def from_yaml(cls, text: str, base: "RunConfig | None" = None) -> "RunConfig":
        return cls.from_dict(parse_yaml(text), base)

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> "RunConfig":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            raise ConfigError(f"Could not read the config file '{Path(path).name}'; check that it exists.") from None
        cfg = cls.from_yaml(text)
        return apply_overrides(cfg, overrides or [])


def parse_yaml(text: str) -> dict:
    """safe_load only: tags such as !!python/object are refused, never instantiated."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"The YAML could not be read{where}; check its indentation and that it uses no special tags.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("The YAML must be a mapping of keys to values (e.g. 'train:' then indented settings).")
    return data


def _merge(obj, data: dict, prefix: str):
    """Copy `obj` with the values in `data` applied; unknown keys and wrong types are refused by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix.rstrip('.')}' must be a mapping of settings, got {type(data).__name__}.")
    hints = typing.get_type_hints(type(obj))
    known = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"Unknown setting '{path}'; known settings here are: {', '.join(sorted(known))}.")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value, path + ".")
        else:
            choices = known[key].metadata.get("choices") or ()
            if isinstance(value, bool) and {"on", "off"} <= set(choices):
                value = "on" if value else "off"  # YAML 1.1 reads an unquoted on/off (yes/no) as true/false
            changes[key] = _coerce(value, hints[key], path)
    return dataclasses.replace(obj, **changes)


def _coerce(value: Any, hint, path: str):
    origin = typing.get_origin(hint)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"'{path}' must be a list of names.")
        if any(len(v) > MAX_STRING for v in value):
            raise ConfigError(f"'{path}' has a name longer than {MAX_STRING} characters.")
        return list(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise ConfigError(f"'{path}' must be true or false, got {value!r}.")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"'{path}' must be a whole number, got {value!r}.")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"'{path}' must be a whole number, got {value!r}.") from None
        if not math.isfinite(number) or number != int(number):
            raise ConfigError(f"'{path}' must be a whole number, got {value!r}.")
        return int(number)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"'{path}' must be a number, got {value!r}.")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"'{path}' must be a number, got {value!r}.") from None
        if not math.isfinite(number):
            raise ConfigError(f"'{path}' must be a finite number, got {value!r}.")
        return number
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"'{path}' must be text, got {type(value).__name__}.")
        value = str(value)
        if len(value) > MAX_STRING:
            raise ConfigError(f"'{path}' is longer than {MAX_STRING} characters.")
        return value
    raise ConfigError(f"'{path}' has an unsupported type.")  # pragma: no cover - programming error


def iter_fields(obj=None, prefix: str = ""):
    """Yield (dotted_path, dataclasses.Field, value) for every leaf setting."""
    obj = obj if obj is not None else RunConfig()
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from iter_fields(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, value


def field_meta(path: str) -> dict:
    """The metadata (help, min, max, choices) of a dotted setting, e.g. 'train.learning_rate'."""
    for p, f, _ in iter_fields():
        if p == path:
            return dict(f.metadata)
    raise ConfigError(f"Unknown setting '{path}'.")


def validate(cfg: RunConfig) -> None:
    """Range and choice checks from the field metadata; the first problem is raised as one sentence."""
    from .tasks import task_names  # the registry decides which tasks exist

    for path, f, value in iter_fields(cfg):
        meta = f.metadata
        choices = task_names() if path == "task" else meta.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"'{path}' is {value!r}; choose one of: {', '.join(choices)}.")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = meta.get("min"), meta.get("max")
            if "exclusive_min" in meta and value <= meta["exclusive_min"]:
                raise ConfigError(f"'{path}' must be greater than {meta['exclusive_min']}, got {value}.")
            if lo is not None and value < lo:
                raise ConfigError(f"'{path}' must be at least {lo}, got {value}.")
            if hi is not None and value > hi:
                raise ConfigError(f"'{path}' must be at most {hi}, got {value}.")
    from .methods import check_supported  # task x method x quantization combinations peft can train
    from .tasks import get_task

    check_supported(get_task(cfg.task), cfg.adapter.method, cfg.train.quantization)
    gpus = cfg.train.gpus.replace(" ", "")
    if gpus not in ("all", "none") and not all(g.isdigit() for g in gpus.split(",")):
        raise ConfigError(f"'train.gpus' is {cfg.train.gpus!r}; use all, none, or GPU ids separated by commas such as 0,1.")
    if cfg.train.processes > 1 and not cfg.train.accelerate_config:  # an accelerate config may span several machines
        most, what = host_processes(gpus)
        if cfg.train.processes > most:
            raise ConfigError(f"'train.processes' is {cfg.train.processes}, but this machine has {what}; choose at most {most}.")


def host_processes(gpus: str = "all") -> tuple[int, str]:
    """The most training processes this machine can run for a `train.gpus` setting, and what limits it: one per
    visible GPU when the run uses GPUs, else one per CPU core this process may use."""
    import os

    from .jobs import gpu_count

    n_gpus = gpu_count() if gpus != "none" else 0
    if n_gpus:
        return n_gpus, f"{n_gpus} GPU{'s' if n_gpus != 1 else ''}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores, f"{cores} CPU core{'s' if cores != 1 else ''}"


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply CLI-style `key.sub=value` strings (values parsed as YAML scalars)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override '{item}' must look like key=value, e.g. train.epochs=2.")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            name = clean_name(key, 80)
            raise ConfigError(f"The value given to '{name}' ({clean_name(raw, 40)!r}) is not valid YAML; write a plain value "
                              f"such as {name}=2, or put text in quotes: {name}='some text'.") from None
        nested: dict = {}
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        cfg = RunConfig.from_dict(nested, base=cfg)
    return cfg


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """A recipe is a YAML file of overrides on top of the RunConfig defaults."""
    return RunConfig.load(path, overrides)


# ---- recipes -------------------------------------------------------------------------------------
RECIPES = Path(__file__).resolve().parent.parent / "recipes"  # the YAML files the page lists and the CLI takes by name


def recipe_choices() -> list[str]:
    """The recipes' names (the files in recipes/ without .yaml), sorted."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    """A recipe by path, or by bare name from the recipes/ folder."""
    p = Path(name)
    if p.is_file():
        return p
    candidate = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if candidate.is_file():
        return candidate
    raise ConfigError(f"No recipe '{name}'; give a YAML path or one of: {', '.join(recipe_choices())}.")
