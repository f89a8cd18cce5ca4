"""Training methods: every PEFT method Tuner offers, plus full finetuning and freezing as baselines.

One registry (`METHODS`) says, per method, which config fields it reads (the page shows only those), which
kinds of model it cannot train (by the task's peft task type, `Task.peft_task_type`), and how to build it.
`check_supported` refuses a task x method pair `peft` cannot train in one sentence naming what would work instead.
`attach` returns the model ready for the Trainer; `save` and `load` write and reload what was trained (PEFT
adapters in PEFT format; full/freeze as a safetensors file of the trained tensors only), so `tuner.inference`
reloads every method the same way.

Functions here take a task object (tuner.tasks) or a peft task type, never a task name; this module imports
neither the tasks nor `tuner.models` (`models.attach_adapter` finds the target modules and calls `attach`).
"""
from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ModelError

WEIGHTS_FILE = "adapter_model.safetensors"  # full/freeze: only the trained tensors, same file name as PEFT
WEIGHTS_META = "trained_weights.json"        # marks a full/freeze folder (not a PEFT adapter)


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    fields: tuple[str, ...]           # adapter.* settings this method reads (the page shows only these)
    refused: tuple[str, ...] = ()     # peft task types it cannot train (peft 0.21 on the task's model class)
    kind: str = "peft"                # "peft", "prompt" (prompt learning, never merged) or "weights"
    unsupported_why: str = ""         # the reason shown for a task whose peft task type is `refused`


LORA_FIELDS = ("adapter.r", "adapter.alpha", "adapter.dropout", "adapter.target_modules")
METHODS: dict[str, Method] = {m.name: m for m in [
    Method("lora", "LoRA", LORA_FIELDS + ("adapter.use_rslora", "adapter.use_dora", "adapter.loraplus_lr_ratio")),
    Method("adalora", "AdaLoRA", LORA_FIELDS + ("adapter.adalora_init_r",)),
    Method("ia3", "IA3", ("adapter.target_modules",)),
    Method("loha", "LoHa", LORA_FIELDS),
    Method("lokr", "LoKr", LORA_FIELDS),
    Method("vera", "VeRA", ("adapter.r", "adapter.dropout", "adapter.target_modules")),
    Method("prefix_tuning", "Prefix tuning", ("adapter.num_virtual_tokens",), kind="prompt"),
    # prompt and P-tuning prepend virtual tokens: per-token outputs (TOKEN_CLS) no longer line up with the words
    Method("prompt_tuning", "Prompt tuning", ("adapter.num_virtual_tokens",), ("TOKEN_CLS",), "prompt",
           "peft prepends virtual tokens to the input, so the per-token tags no longer line up with the words"),
    Method("p_tuning", "P-tuning", ("adapter.num_virtual_tokens",), ("TOKEN_CLS",), "prompt",
           "peft prepends virtual tokens to the input, so the per-token tags no longer line up with the words"),
    Method("full", "Full finetuning (baseline)", (), kind="weights"),
    Method("freeze", "Freeze (train the head / last N layers)", ("adapter.freeze_layers",), kind="weights"),
]}
# prefix tuning is prompt learning too (never merged), but it does not shift the sequence, so NER works.
PROMPT_LEARNING = ("prefix_tuning", "prompt_tuning", "p_tuning")
ALL_FIELDS = sorted({f for m in METHODS.values() for f in m.fields})


def method_names() -> list[str]:
    return list(METHODS)


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"Unknown method '{name}'; choose one of: {', '.join(METHODS)}.") from None


def supported(task, method: str) -> bool:
    """Whether `method` trains `task` (a task object, or its peft task type)."""
    return getattr(task, "peft_task_type", task) not in get_method(method).refused


def supported_methods(task) -> list[str]:
    return [m.name for m in METHODS.values() if supported(task, m.name)]


def check_supported(task, method: str, quantization: str = "none") -> None:
    """Refuse an unsupported combination in one sentence, before anything starts (`task`: a task object)."""
    m = get_method(method)
    if not supported(task, method):
        others = ", ".join(METHODS[n].title for n in supported_methods(task) if n not in PROMPT_LEARNING[1:])
        what = f"the {task.name} task" if hasattr(task, "name") else f"a {task} model"
        raise ConfigError(f"{m.title} cannot train {what} ({m.unsupported_why}); use one of: {others}.")
    if quantization != "none" and m.kind == "weights":
        raise ConfigError(f"{m.title} updates the base weights, which cannot be trained in {quantization} form; "
                          "use LoRA (QLoRA) or another adapter method, or set quantization to none.")


# ---- building ------------------------------------------------------------------------------------
def peft_config(model, adapter_cfg, task_type: str, modules_to_save: list[str] | None, total_steps: int = 0,
                targets: list[str] | None = None):
    """The `peft` config object for `adapter_cfg.method` on this model and peft task type (SEQ_CLS ...);
    `targets`: the module paths an adapter method wraps (tuner.models.attach_adapter finds them)."""
    import peft

    name, a = adapter_cfg.method, adapter_cfg
    save = list(modules_to_save or []) or None
    if name in PROMPT_LEARNING:
        common = dict(task_type=task_type, num_virtual_tokens=a.num_virtual_tokens, modules_to_save=save)
        if name == "prefix_tuning":
            return peft.PrefixTuningConfig(**common)
        if name == "prompt_tuning":
            return peft.PromptTuningConfig(**common)
        return peft.PromptEncoderConfig(encoder_hidden_size=_hidden_size(model), **common)
    common = dict(task_type=task_type, target_modules=targets, modules_to_save=save)
    if name == "lora":
        return peft.LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=a.dropout, use_rslora=a.use_rslora,
                               use_dora=a.use_dora, **common)
    if name == "adalora":
        steps = max(int(total_steps), 1)
        # rank budget: warm up on 10% of the steps at init_r, prune to r by 70%, then fine-tune the final ranks
        tinit, tfinal = int(0.1 * steps), int(0.3 * steps)
        if tinit + tfinal >= steps:
            tinit, tfinal = 0, 0
        return peft.AdaLoraConfig(init_r=max(a.adalora_init_r, a.r), target_r=a.r, lora_alpha=a.alpha,
                                  lora_dropout=a.dropout, total_step=steps, tinit=tinit, tfinal=tfinal,
                                  deltaT=1, **common)
    if name == "ia3":
        return peft.IA3Config(feedforward_modules=[], **common)
    if name == "loha":
        return peft.LoHaConfig(r=a.r, alpha=a.alpha, module_dropout=a.dropout, **common)
    if name == "lokr":
        return peft.LoKrConfig(r=a.r, alpha=a.alpha, module_dropout=a.dropout, **common)
    if name == "vera":
        return peft.VeraConfig(r=a.r, vera_dropout=a.dropout, save_projection=True, **common)
    raise ModelError(f"'{name}' is not a PEFT method.")  # pragma: no cover - callers check kind first


def _hidden_size(model) -> int:
    config = model.config
    return int(getattr(config, "hidden_size", None) or getattr(config, "n_embd", None) or 64)


def attach(model, adapter_cfg, task_type: str, modules_to_save: list[str] | None = None, total_steps: int = 0,
           targets: list[str] | None = None):
    """The model ready to train: a PeftModel for PEFT methods, the model itself (some weights unfrozen) for
    full finetuning and freeze. `task_type`: the task's peft task type; `targets`: see `peft_config`."""
    check_supported(task_type, adapter_cfg.method)
    method = get_method(adapter_cfg.method)
    if method.kind == "weights":
        set_trainable(model, adapter_cfg, modules_to_save)
        return model
    from peft import get_peft_model

    return get_peft_model(model, peft_config(model, adapter_cfg, task_type, modules_to_save, total_steps, targets))


_BLOCK_INDEX = re.compile(r"\.(?:layer|layers|h|blocks|block)\.(\d+)\.")
HEADS = ("classifier", "score", "lm_head", "pooler")


def set_trainable(model, adapter_cfg, modules_to_save: list[str] | None) -> None:
    """full: every weight trains. freeze: only the task head (+ the task's extra modules) and the last
    `freeze_layers` transformer blocks train."""
    if adapter_cfg.method == "full":
        for p in model.parameters():
            p.requires_grad = True
        return
    keep = set(HEADS) | set(modules_to_save or [])
    blocks = sorted({int(m.group(1)) for n, _ in model.named_parameters() if (m := _BLOCK_INDEX.search("." + n))})
    last = set(blocks[-adapter_cfg.freeze_layers:]) if adapter_cfg.freeze_layers > 0 else set()
    for name, p in model.named_parameters():
        parts = set(name.split("."))
        m = _BLOCK_INDEX.search("." + name)
        p.requires_grad = bool(parts & keep) or (m is not None and int(m.group(1)) in last)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:  # a language model's head (tied to the input embeddings in many small models)
        for p in head.parameters():
            p.requires_grad = True
    if not any(p.requires_grad for p in model.parameters()):
        raise ModelError("Freeze found no head or layer to train in this model; choose LoRA or full finetuning.")


def make_optimizer(model, adapter_cfg, learning_rate: float, weight_decay: float):
    """LoRA+ (a higher learning rate for the B matrices) when asked for; else None (the Trainer's AdamW)."""
    if adapter_cfg.method != "lora" or not adapter_cfg.loraplus_lr_ratio:
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer

    # fused: one kernel for all adapter tensors, as the Trainer's own optimizer (adamw_torch_fused)
    return create_loraplus_optimizer(model, torch.optim.AdamW, lr=learning_rate, fused=True,
                                     loraplus_lr_ratio=adapter_cfg.loraplus_lr_ratio, weight_decay=weight_decay)


def adalora_callback(model):
    """AdaLoRA re-allocates its rank budget after every optimizer step (before the gradients are cleared)."""
    from transformers import TrainerCallback

    class AdaLoraCallback(TrainerCallback):
        def on_optimizer_step(self, args, state, control, **kw):
            model.base_model.update_and_allocate(state.global_step)

    return AdaLoraCallback()


# ---- saving and reloading ------------------------------------------------------------------------
def save(model, folder: Path, method: str) -> None:
    """PEFT adapter (safetensors) or, for full/freeze, the trained tensors as one safetensors file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if get_method(method).kind != "weights":
        model.save_pretrained(str(folder), safe_serialization=True)
        return
    from safetensors.torch import save_file

    tensors = {n: p.detach().to("cpu").contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": "pt", "tuner_method": method})
    (folder / WEIGHTS_META).write_text(json.dumps({"method": method, "tensors": len(tensors)}), encoding="utf-8")


def load(base, folder: Path, method: str, keep_base: bool = False):
    """Rebuild the trained model on top of `base` (the freshly built task model). `keep_base`: full/freeze
    models keep a copy of the base tensors they replace, for `disable_adapter()` (the chat's base answers)."""
    folder = Path(folder)
    if get_method(method).kind != "weights":
        from peft import PeftModel

        return PeftModel.from_pretrained(base, str(folder))
    from safetensors.torch import load_file

    state = load_file(str(folder / WEIGHTS_FILE))
    missing = [k for k in state if k not in dict(base.named_parameters())]
    if missing:
        raise ModelError(f"The saved weights do not fit the base model (e.g. '{missing[0]}'); was the base model changed?")
    if keep_base:
        keep_base_tensors(base, list(state))
    base.load_state_dict(state, strict=False)
    return base


MERGEABLE = ("lora", "adalora")


def mergeable(method: str) -> bool:
    """Methods that inference folds into the base weights. Prompt learning keeps its virtual tokens; IA3, LoHa,
    LoKr and VeRA stay unmerged (peft 0.21's merge fails on a trained pooler/head kept beside them)."""
    return method in MERGEABLE


def add_base_switch(model, names) -> None:
    """Give a full/freeze model the `disable_adapter()` context a PeftModel has: inside it the trained tensors
    are swapped for the base model's (used by the chat task to answer 'before vs after')."""
    names = list(names)
    params = dict(model.named_parameters())
    model._tuner_trained_names = names

    @contextlib.contextmanager
    def disable_adapter():
        saved = {n: params[n].data for n in names}
        base = getattr(model, "_tuner_base_tensors", None)
        if base is None:
            raise ModelError("The base model's weights are not kept for this run, so it cannot be compared.")
        try:
            for n in names:
                params[n].data = base[n].to(params[n].device, params[n].dtype)
            yield
        finally:
            for n in names:
                params[n].data = saved[n]

    model.disable_adapter = disable_adapter


def keep_base_tensors(model, names=None) -> None:
    """Snapshot the trainable tensors before training (full/freeze), so `disable_adapter()` can show the base."""
    names = list(names or [n for n, p in model.named_parameters() if p.requires_grad])
    params = dict(model.named_parameters())
    model._tuner_base_tensors = {n: params[n].detach().to("cpu").clone() for n in names}
    add_base_switch(model, names)


def folder_size(folder: Path) -> int:
    """Bytes of the weight files in a saved adapter / trained-weights folder."""
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))
