"""Words in, tags out: how entity tagging feeds a token-classification model and reads its answer.

The first sub-token of every word carries the word's label (the others are ignored by the loss); the case
feature gives uncased models each word's shape as its token type; long sentences are cut into pieces at word
boundaries, and every word's tag comes from Viterbi decoding under the BIO constraints. Used alike by training,
evaluation and prediction (tuner/tasks/ner/)."""

from __future__ import annotations

import math

import numpy as np

from ...errors import ModelError
from . import schemes as ts


def check_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", True):
        raise ModelError("Entity tagging needs a fast tokenizer (one with word alignment); pick a model whose tokenizer.json is included.")


CASE_TYPES = 3  # token types of the case feature: 0 lower case / no letters, 1 Capitalised, 2 ALL CAPS


def word_shape(word: str) -> int:
    """0 for 'the', '1996', ','; 1 for 'Paris', 'McDonald', 'A'; 2 for 'EU', 'IBM', 'JAPAN', 'U.S.'."""
    letters = [c for c in word if c.isalpha()]
    if not letters or not letters[0].isupper():
        return 0
    return 2 if len(letters) > 1 and all(c.isupper() for c in letters) else 1


def case_ids(words: list[str], word_ids: list) -> list[int]:
    """The case feature's token type of every sub-token (its word's shape; 0 for special tokens)."""
    return [0 if w is None else word_shape(words[w]) for w in word_ids]


def add_case_rows(model) -> None:
    """Grow a two-row token-type embedding to CASE_TYPES rows (the new row starts as a copy of row 1), and make
    the embedding LayerNorm accept the fp32 output of the trained copy when the frozen model is in bf16."""
    import torch

    emb = next((m for n, m in model.named_modules() if n.endswith("embeddings.token_type_embeddings")), None)
    if emb is None or emb.num_embeddings < 2:
        return  # no token types (RoBERTa-style): the tokenizer sends none either, so the feature is off
    if emb.num_embeddings < CASE_TYPES:
        with torch.no_grad():
            extra = emb.weight[1:2].repeat(CASE_TYPES - emb.num_embeddings, 1)
            emb.weight = torch.nn.Parameter(torch.cat([emb.weight, extra]), requires_grad=emb.weight.requires_grad)
        emb.num_embeddings = CASE_TYPES
        model.config.type_vocab_size = CASE_TYPES
    norm = next((m for n, m in model.named_modules() if n.endswith("embeddings.LayerNorm")), None)
    if norm is not None and getattr(norm, "weight", None) is not None:
        norm.register_forward_pre_hook(lambda mod, args: (args[0].to(mod.weight.dtype), *args[1:]))


def first_subtoken_labels(word_ids: list, tags: list[int]) -> list[int]:
    """The word's label on its first sub-token; -100 (ignored by the loss) on special tokens and the rest."""
    out, prev = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == prev else tags[w])
        prev = w
    return out


def _pieces(lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """Split a sentence's words (sub-token counts `lengths`) into consecutive pieces of at most `budget` sub-tokens."""
    out, start, used = [], 0, 0
    for k, n in enumerate(lengths):
        if used and used + n > budget:
            out.append((start, k))
            start, used = k, 0
        used += n
    out.append((start, len(lengths)))
    return out


def tag_words(model, tokenizer, sentences: list[list[str]], meta: dict, max_length: int, batch_size: int = 64):
    """(BIO tags, per-word probability of its tag) for each pre-split sentence.

    Sentences longer than `max_length` sub-tokens are cut into pieces at word boundaries, so every word gets a
    prediction; decoding is Viterbi under the BIO constraints."""
    import contextlib

    import torch

    check_fast(tokenizer)
    labels = meta["labels"]
    start_ok, ok = ts.allowed_transitions(labels)
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
    pieces = []  # (sentence, first word, words)
    filled = [si for si, words in enumerate(sentences) if words]
    for k0 in range(0, len(filled), 1024):
        chunk = filled[k0:k0 + 1024]
        enc = tokenizer([sentences[si] for si in chunk], is_split_into_words=True, add_special_tokens=False)
        for b, si in enumerate(chunk):
            words = sentences[si]
            counts = [0] * len(words)
            for w in enc.word_ids(b):
                if w is not None:
                    counts[w] += 1
            for a, e in _pieces(counts, budget):
                pieces.append((si, a, words[a:e]))
    word_lp = [np.full((len(w), len(labels)), -1e4, dtype=np.float32) for w in sentences]
    for lp in word_lp:
        lp[:, 0] = 0.0  # a word the tokenizer drops (no sub-token) is tagged O
    case = meta.get("case_feature")
    device = next(model.parameters()).device
    low = next((p.dtype for p in model.parameters() if p.dtype in (torch.bfloat16, torch.float16)), None)
    autocast = torch.autocast(device.type, dtype=low) if low is not None else contextlib.nullcontext()
    order = sorted(range(len(pieces)), key=lambda k: len(pieces[k][2]))
    with torch.inference_mode(), autocast:
        for start in range(0, len(order), batch_size):
            batch = [pieces[k] for k in order[start:start + batch_size]]
            enc = tokenizer([p[2] for p in batch], is_split_into_words=True, truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in enc.items()}
            if case and "token_type_ids" in inputs:
                inputs["token_type_ids"] = torch.tensor(
                    [case_ids(p[2], enc.word_ids(b)) for b, p in enumerate(batch)], device=device)
            logits = model(**inputs).logits.float()
            lps = torch.log_softmax(logits, dim=-1).cpu().numpy()
            for b, (si, first, words) in enumerate(batch):
                prev = None
                for pos, w in enumerate(enc.word_ids(b)):
                    if w is not None and w != prev:
                        word_lp[si][first + w] = lps[b, pos]
                    prev = w
    out = []
    for lp in word_lp:
        path = ts.viterbi(lp, start_ok, ok)
        out.append(([labels[j] for j in path], [float(math.exp(lp[k, j])) for k, j in enumerate(path)]))
    return out


def entity_result(text: str, words: list[str], offsets, tags: list[str], probs: list[float]) -> dict:
    entities = []
    for t, s, e in ts.bio_to_spans(tags):
        a, b = offsets[s][0], offsets[e - 1][1]
        entities.append({"start": a, "end": b, "label": t, "text": text[a:b],
                         "score": round(float(np.mean(probs[s:e])), 4)})
    return {"text": text, "entities": entities, "tokens": words, "tags": tags}
