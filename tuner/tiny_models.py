"""Tiny causal language models built from a config in-process, for offline use and tests (no hub, no network).

`build("llama" | "qwen2" | "gpt2")` returns a folder holding a randomly initialised model (safetensors) and a
byte-level tokenizer made locally with the `tokenizers` library: the 256 byte symbols plus the special tokens
the built-in chat templates use, so every string round-trips and nothing is ever unknown. The folders are
deterministic (fixed seed, fixed spec) and cached under `$TUNER_CACHE_DIR/tiny-models` (default
`~/.cache/tuner`); the model name `tiny:<arch>` resolves to them (see `tuner.models.resolve`).

The tiny Llama carries a Llama-3-style chat template, the tiny Qwen2 a ChatML one, and the tiny GPT-2 none,
so both paths of the chat task (the model's own template, or a built-in one) run offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from . import environment
from .errors import ModelError

ARCHITECTURES = ("llama", "qwen2", "gpt2")
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eot_id|>"]
VOCAB_SIZE = 272  # 256 bytes + 7 special tokens, rounded up to a multiple of 16
# Width 64 x 2 layers: ~0.15M parameters; a LoRA step on 8 x 256 tokens takes tens of ms on a CPU.
SHAPE = {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 192, "positions": 2048}
# 10x the usual 0.02 so the frozen random output layer can express sharp next-token distributions: with 0.02
# the largest logit a hidden state can reach is ~1.3 and a LoRA adapter alone cannot bring the loss down (on
# 400 bitext rows: 0.1 -> eval loss 5.7 to 3.3 nats/byte; 0.2 -> 6.7 to 2.8, the untrained loss ~ln(272) + 1).
INIT_RANGE = 0.2

CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

# arch -> special-token roles and chat template of its tokenizer
TOKENIZER_SPEC = {
    "llama": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_TEMPLATE,
              "add_bos": True},
    "qwen2": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": CHATML_TEMPLATE},
    "gpt2": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"},
}


def cache_root() -> Path:
    base = environment.get("TUNER_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tuner")
    return Path(base) / "tiny-models"


def spec_hash(arch: str) -> str:
    spec = {"arch": arch, "shape": SHAPE, "vocab": VOCAB_SIZE, "init": INIT_RANGE, "specials": SPECIAL_TOKENS,
            "tok": TOKENIZER_SPEC[arch], "version": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def is_tiny(name: str | None) -> bool:
    """Whether a model name is one of these tiny random test models: `tiny:<arch>`, or a folder this module built
    (its cache folder `<arch>-<spec hash>`). Their answers are gibberish by design."""
    if not name:
        return False
    text = str(name).strip()
    if text.lower().startswith("tiny:"):
        return text.split(":", 1)[1].strip().lower() in ARCHITECTURES
    folder = Path(text).name
    return any(folder == f"{arch}-{spec_hash(arch)}" for arch in ARCHITECTURES)


def build(arch: str) -> Path:
    """The cached folder of the tiny `arch` model, built on first use (atomically: safe from two processes)."""
    arch = arch.strip().lower()
    if arch not in ARCHITECTURES:
        raise ModelError(f"There is no tiny '{arch}' model; choose one of: {', '.join('tiny:' + a for a in ARCHITECTURES)}.")
    folder = cache_root() / f"{arch}-{spec_hash(arch)}"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{arch}-", dir=folder.parent))
    tmp.chmod(0o755)
    try:
        make_tokenizer(arch).save_pretrained(str(tmp))
        make_model(arch).save_pretrained(str(tmp), safe_serialization=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first: theirs is identical
            if not (folder / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def make_tokenizer(arch: str):
    """A byte-level BPE tokenizer with no merges: one token per byte, plus the chat special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    spec = dict(TOKENIZER_SPEC[arch])
    template = spec.pop("chat_template", None)
    add_bos = spec.pop("add_bos", False)
    if add_bos:
        bos = spec["bos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=SHAPE["positions"], **spec)
    if template:
        fast.chat_template = template
    return fast


def make_model(arch: str):
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config

    s = SHAPE
    ids = {"bos_token_id": _token_id(arch, "bos_token"), "eos_token_id": _token_id(arch, "eos_token"),
           "pad_token_id": _token_id(arch, "pad_token")}
    if arch == "gpt2":
        config = GPT2Config(vocab_size=VOCAB_SIZE, n_positions=s["positions"], n_embd=s["hidden"], n_layer=s["layers"],
                            n_head=s["heads"], n_inner=s["intermediate"], initializer_range=INIT_RANGE,
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **ids)
    else:
        cls = LlamaConfig if arch == "llama" else Qwen2Config
        config = cls(vocab_size=VOCAB_SIZE, hidden_size=s["hidden"], intermediate_size=s["intermediate"],
                     num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
                     max_position_embeddings=s["positions"], initializer_range=INIT_RANGE, tie_word_embeddings=True,
                     **ids)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    return model.eval()


def _token_id(arch: str, role: str) -> int | None:
    token = TOKENIZER_SPEC[arch].get(role)
    return 256 + SPECIAL_TOKENS.index(token) if token else None
