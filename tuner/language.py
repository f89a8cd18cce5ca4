"""Which language a text column is in, which languages a model was trained on, and what to say when the two differ.

The text side counts Unicode scripts (Han, kana, Hangul, Cyrillic, Arabic, ...) over a sample of rows, and for
Latin script the share of common English words; no model and no network. The model side reads the `language:`
list of a model folder's card (README.md front matter), the bundled default's known English, or a Hub id's name.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

SAMPLE_ROWS = 2000

# Unicode character-name prefixes -> script
_SCRIPTS = (("CJK", "Han"), ("HIRAGANA", "Kana"), ("KATAKANA", "Kana"), ("HANGUL", "Hangul"), ("LATIN", "Latin"),
            ("CYRILLIC", "Cyrillic"), ("ARABIC", "Arabic"), ("GREEK", "Greek"), ("HEBREW", "Hebrew"),
            ("DEVANAGARI", "Devanagari"), ("THAI", "Thai"), ("BENGALI", "Bengali"), ("TAMIL", "Tamil"))
# script -> (language code, English name) where a script names one language well enough
SCRIPT_LANGUAGE = {"Han": ("zh", "Chinese"), "Kana": ("ja", "Japanese"), "Hangul": ("ko", "Korean"),
                   "Cyrillic": ("ru", "Russian or another Cyrillic-script language"), "Arabic": ("ar", "Arabic"),
                   "Greek": ("el", "Greek"), "Hebrew": ("he", "Hebrew"), "Devanagari": ("hi", "Hindi"),
                   "Thai": ("th", "Thai"), "Bengali": ("bn", "Bengali"), "Tamil": ("ta", "Tamil")}
UNSPACED_SCRIPTS = {"Han", "Kana", "Thai"}  # written without spaces between words
ENGLISH_WORDS = set("""the a an and or but of to in on at for with from by is are was were be been it this that these
those i you he she we they my your our their not no do does did have has had will would can could should
what which who how when where there here very just so if as all about more most some any one than then
me him her us them its also only out up get got like good great bad""".split())
ENGLISH_SHARE = 0.12  # share of Latin words that are common English ones: English prose is ~40-50%, others < 5%

# Models a person can pick instead, by text language (Hub ids; sizes of the safetensors weights)
SUGGESTIONS = {
    "zh": [("hfl/rbt3", "Chinese RoBERTa, 3 layers, 38M parameters, about 150 MB, fast on a CPU"),
           ("google-bert/bert-base-chinese", "Chinese BERT, 102M parameters, about 410 MB"),
           ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "50+ languages, 118M parameters, about 470 MB")],
    "*": [("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "50+ languages, 118M parameters, about 470 MB"),
          ("FacebookAI/xlm-roberta-base", "100 languages, 278M parameters, about 1.1 GB")],
}
DEFAULT_MODEL_LANGUAGES = {"en"}  # the bundled all-MiniLM-L6-v2 was trained on English text only
_NAME_HINTS = ((re.compile(r"chinese|[-_/]zh\b|\bzh[-_]|hfl/|rbt3|roberta-wwm|macbert|ernie"), {"zh"}),
               (re.compile(r"japanese|[-_/]ja\b|cl-tohoku"), {"ja"}),
               (re.compile(r"korean|klue|[-_/]ko\b"), {"ko"}),
               (re.compile(r"multilingual|xlm|mbert|labse|mt5|bge-m3|e5-.*multi|qwen|llama|gemma|mistral|smollm"), {"multi"}))


def script_of(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    return next((script for prefix, script in _SCRIPTS if name.startswith(prefix)), "Other")


def _sample(texts, rows: int = SAMPLE_ROWS) -> list[str]:
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if len(texts) <= rows:
        return texts
    step = len(texts) / rows
    return [texts[int(i * step)] for i in range(rows)]


def detect(texts) -> dict:
    """{"code", "name", "script", "share"} of the text column: the dominant script's language (Han text with kana is
    Japanese); Latin script is English when common English words make up enough of it, else "Latin"."""
    sample = _sample(texts)
    counts: Counter = Counter()
    for t in sample:
        counts.update(s for s in map(script_of, t[:500]) if s)
    letters = sum(counts.values())
    if not letters:
        return {"code": "", "name": "unknown", "script": "", "share": 0.0}
    script, n = counts.most_common(1)[0]
    if script == "Han" and counts["Kana"] >= 0.05 * letters:
        script, n = "Kana", n + counts["Kana"]
    share = n / letters
    if script == "Latin":
        words = [w.lower() for t in sample for w in re.findall(r"[^\W\d_]+", t[:500])]
        english = sum(w in ENGLISH_WORDS for w in words) / max(1, len(words))
        code, name = ("en", "English") if english >= ENGLISH_SHARE else ("", "a Latin-script language other than English")
    else:
        code, name = SCRIPT_LANGUAGE.get(script, ("", f"{script} script"))
    return {"code": code, "name": name, "script": script, "share": round(share, 3)}


def spaced_text(texts) -> bool:
    """True when words are separated by spaces (English, Russian...), False for Chinese, Japanese, Thai."""
    return detect(texts)["script"] not in UNSPACED_SCRIPTS


def card_languages(folder: Path) -> set[str] | None:
    """The `language:` list in a model folder's README.md front matter, lower-cased; None when absent."""
    import yaml

    readme = Path(folder) / "README.md"
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")[:20_000]
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    try:
        front = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return None
    langs = front.get("language") if isinstance(front, dict) else None
    if isinstance(langs, str):
        langs = [langs]
    if not isinstance(langs, list) or not langs:
        return None
    out = {str(x).lower().split("-")[0] for x in langs}
    return {"multi"} if len(out) > 3 or "multilingual" in out else out


def model_languages(name: str) -> set[str] | None:
    """Languages the model was pretrained on ({"multi"} for many), or None when unknown (then nothing is said)."""
    name = (name or "").strip()
    if name in ("", "default") or "all-minilm-l6-v2" in name.lower():
        return set(DEFAULT_MODEL_LANGUAGES)
    if name.startswith("tiny:"):
        return None
    if Path(name).is_dir():
        found = card_languages(Path(name))
        if found:
            return found
    lowered = name.lower()
    for pattern, langs in _NAME_HINTS:
        if pattern.search(lowered):
            return set(langs)
    return None


LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "multi": "many languages"}


UNKNOWN_SHARE = 0.05  # more of the text's tokens than this unknown to the model's vocabulary ([UNK]) is worth a word


def unknown_share(texts, tokenizer, rows: int = 500) -> float | None:
    """Share of the text's tokens that the model's tokenizer maps to its unknown token (the model cannot read
    them at all); None for tokenizers without one (byte-level BPE reads everything)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    sample = _sample(texts, rows)
    if unk is None or not sample:
        return None
    ids = tokenizer(sample, add_special_tokens=False, truncation=True, max_length=512)["input_ids"]
    total = sum(len(x) for x in ids)
    return sum(x.count(unk) for x in ids) / total if total else None


def _mismatch(found: dict, langs: set[str] | None) -> bool:
    """The text's language is known and the model's languages are known not to include it."""
    if langs is None or "multi" in langs or found["script"] == "":
        return False
    return not found["code"] or found["code"] not in langs  # a language no code names is none the model knows


def tokenizer_for(model_name: str):
    """The model's tokenizer when it can be had without a download (the bundled default, a local folder, a cached
    Hub id), else None; never raises."""
    try:
        from . import models

        return models.load_tokenizer(models.resolve(model_name))
    except Exception:  # no tokenizer: the check goes by the model's card and name alone
        return None


def check(texts, model_name: str, tokenizer=None) -> dict | None:
    """None when the model suits the text (or nothing is known against it); else what to tell the person:
    {"text": detected, "model_languages", "unknown_share", "sentence", "suggestions": [(hub id, description)]}.
    With the model's `tokenizer`, a high share of unknown tokens counts against the model whatever its card says."""
    found = detect(texts)
    langs = model_languages(model_name)
    unknown = unknown_share(texts, tokenizer) if tokenizer is not None else None
    mismatch = _mismatch(found, langs)
    unreadable = unknown is not None and unknown >= UNKNOWN_SHARE
    if not mismatch and not unreadable:
        return None
    suggestions = SUGGESTIONS.get(found["code"], SUGGESTIONS["*"])
    label = "the bundled default model" if model_name in ("", "default") else f"the model '{model_name}'"
    unknown_part = (f"{100 * unknown:.0f}% of its tokens are unknown to the model's vocabulary"
                    if unreadable else "")
    if mismatch:
        model_said = ", ".join(LANGUAGE_NAMES.get(x, x) for x in sorted(langs))
        head = f"The text is in {found['name']}, but {label} was trained on {model_said} only"
        head += f" ({unknown_part})" if unknown_part else ""
    else:
        head = f"The text is in {found['name']}, and {unknown_part}"
    target = found["name"] if found["code"] else "this language"
    sentence = (f"{head}, so it will learn little from it; pick a model trained on {target} "
                f"(e.g. {suggestions[0][0]}) — it downloads from the Hugging Face Hub, so it needs a network; "
                "offline, expect the classical TF-IDF baseline to beat this model.")
    text_zh = NAMES_ZH.get(found["code"], "这种语言")
    label_zh = "内置的默认模型" if model_name in ("", "default") else f"模型“{model_name}”"
    unknown_zh = f"{100 * unknown:.0f}% 的词元不在模型的词表里" if unreadable else ""
    if mismatch:
        head_zh = f"文本是{text_zh}，但{label_zh}只用{'、'.join(NAMES_ZH.get(x, x) for x in sorted(langs))}训练过"
        head_zh += f"（{unknown_zh}）" if unknown_zh else ""
    else:
        head_zh = f"文本是{text_zh}，{unknown_zh}"
    sentence_zh = (f"{head_zh}，所以模型很难从中学到东西；请选择用{text_zh}训练过的模型（例如 {suggestions[0][0]}），"
                   "它需要联网从 Hugging Face Hub 下载；离线时，传统的 TF-IDF 基线模型很可能比这个模型更好。")
    return {"text": found, "model_languages": sorted(langs or []), "unknown_share": unknown, "sentence": sentence,
            "sentence_zh": sentence_zh, "suggestions": suggestions}


NAMES_ZH = {"en": "英文", "zh": "中文", "ja": "日文", "ko": "韩文", "ru": "俄文", "ar": "阿拉伯文", "el": "希腊文",
            "he": "希伯来文", "hi": "印地文", "th": "泰文", "bn": "孟加拉文", "ta": "泰米尔文", "multi": "多种语言"}


def check_table(df, text_columns: list[str], model_name: str) -> dict | None:
    """`check` on a table's text columns (joined per row, the first SAMPLE_ROWS rows) with the model's tokenizer:
    the one way the CLI, the Data tab and the Train tab ask."""
    cols = [c for c in text_columns if c in df.columns]
    if not cols:
        return None
    texts = [" ".join(map(str, row)) for row in df[cols].head(SAMPLE_ROWS).values]
    return check(texts, model_name, tokenizer_for(model_name))
