"""A Llama-style causal LM of a chosen size, built from a config with random weights, saved as a model folder
with the tiny models' byte-level tokenizer and Llama-3 chat template (offline: nothing is downloaded).

    python -m bench.gpu_model /tmp/llama-0.5b                  # ~0.5B parameters (24 layers x 1536 wide)
    python -m bench.gpu_model /tmp/llama-small --layers 4 --hidden 256 --intermediate 768 --heads 4 --kv-heads 2

The folder works as `model.name` of any chat recipe, so the real training path (`python -m tuner train`, an
`accelerate launch` child) can be timed on a GPU with a model of realistic size, e.g.
    python -m bench.chat_packing --data alpaca.jsonl --set model.name=/tmp/llama-0.5b --set model.max_length=2048
A random model learns only the shape of the text: use it for speed and memory, not quality.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(folder: Path, layers: int, hidden: int, intermediate: int, heads: int, kv_heads: int) -> int:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from tuner import tiny_models

    tokenizer = tiny_models.make_tokenizer("llama")
    config = LlamaConfig(vocab_size=tiny_models.VOCAB_SIZE, hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=4096, tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # initialising on a GPU takes seconds, not a minute
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return n_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--intermediate", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=4)
    args = ap.parse_args()
    n = build(args.folder, args.layers, args.hidden, args.intermediate, args.heads, args.kv_heads)
    print(f"{args.folder}: Llama-style model, {n / 1e6:,.1f}M parameters, byte-level tokenizer")


if __name__ == "__main__":
    main()
