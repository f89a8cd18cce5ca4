"""English and Chinese page text, switchable on the page.

Gradio's own `gr.I18n` picks the language from the browser's locale and cannot be switched from the page, so
this is the equivalent: every component's English label/info/placeholder (and button and heading text) is the
key into the tables of tuner/ui/zh.py (this module holds the look-ups and the wiring); a language radio re-labels all registered components with `gr.update`, and remembers
the choice per browser session so that error sentences (TunerError) come back in the same language.

Only English strings are written in the tab modules; a string missing here simply stays English.
"""

from __future__ import annotations

import collections
import json
import re
import threading

import gradio as gr

from .zh import (  # noqa: F401  (the tables, re-exported: tabs and tests use i18n.ZH, i18n.SAY_ZH)
    _COMPILED,
    _PARTS_ZH,
    _SENTENCE_PARTS_ZH,
    _SENTENCES,
    ERROR_PATTERNS_ZH,
    ERRORS_ZH,
    SAY_ZH,
    SENTENCE_PATTERNS_ZH,
    ZH,
)

LANGUAGES = [("English", "en"), ("中文", "zh")]
DEFAULT = "en"


def sentence(text: str, lang: str | None = None) -> str:
    """A sentence core code wrote in English, in the page's language: SAY_ZH/ZH exactly, then the sentence patterns
    (their parts carried over, themselves translated when they are known phrases), then the error sentences."""
    lang = current_lang() if lang is None else lang
    if lang != "zh" or not isinstance(text, str) or not text:
        return text
    exact = SAY_ZH.get(text) or ZH.get(text)
    if exact:
        return exact
    if not any(p.match(text) for p, _ in _SENTENCES):  # several sentences: each on its own
        parts = re.split(r"(?<=[.)])\s+(?=[A-Z])", text.strip())
        if len(parts) > 1:
            return "".join(sentence(p, lang) for p in parts)
    for pattern, template in _SENTENCES:
        m = pattern.match(text)
        if m:
            parts = {k: _SENTENCE_PARTS_ZH.get(v, ZH.get(v, v)) if isinstance(v, str) else v
                     for k, v in m.groupdict().items()}
            if "rest" in parts and parts["rest"]:
                parts["rest"] = sentence(parts["rest"].strip(), lang)
            return template.format(**parts)
    return translate_error(text, lang)
def say(template: str, lang: str | None = None, **parts) -> str:
    """Generated text in the page's language: `template` (English, with {named} parts) translated by SAY_ZH
    (falling back to the page-text table ZH), then filled in. `lang` None = the current browser session's."""
    lang = current_lang() if lang is None else lang
    if lang == "zh":
        template = SAY_ZH.get(template) or ZH.get(template) or template
    return template.format(**parts) if parts else template


def t(text: str, lang: str | None) -> str:
    """Page text in `lang` (English text is the key; unknown text stays as it is)."""
    if lang == "zh" and isinstance(text, str):
        return ZH.get(text, text)
    return text


def translate_error(sentence: str, lang: str | None) -> str:
    """A user-facing error sentence in `lang`: exact sentences first, then sentence patterns with their parts
    (run ids, row numbers, names) carried over; an unknown sentence stays English."""
    if lang != "zh" or not isinstance(sentence, str):
        return sentence
    if sentence in ERRORS_ZH:
        return ERRORS_ZH[sentence]
    for pattern, template in _COMPILED:
        m = pattern.match(sentence)
        if m:
            parts = {k: _PARTS_ZH.get(v, v) for k, v in m.groupdict().items()}
            return template.format(**parts)
    return sentence


def error_text(exc: BaseException, lang: str | None) -> str:
    """The sentence of a TunerError in `lang`: its own Chinese text when it carries one, else by pattern."""
    if lang == "zh" and getattr(exc, "zh", None):
        return exc.zh
    return translate_error(str(exc), lang)


# ---- the language of each browser session ----------------------------------------------------------
_SESSIONS: "collections.OrderedDict[str, str]" = collections.OrderedDict()
_LOCK = threading.Lock()
MAX_SESSIONS = 10_000


def remember(session: str | None, lang: str) -> None:
    if not session:
        return
    with _LOCK:
        _SESSIONS[session] = lang
        _SESSIONS.move_to_end(session)
        while len(_SESSIONS) > MAX_SESSIONS:
            _SESSIONS.popitem(last=False)


def current_lang() -> str:
    """The language chosen in the browser session whose event is being handled (English outside events)."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    except Exception:
        request = None
    session = getattr(request, "session_hash", None)
    with _LOCK:
        return _SESSIONS.get(session, DEFAULT) if session else DEFAULT


# ---- wiring: collect translatable components, re-label them on a language change ---------------------
TEXT_PROPS = ("label", "info", "placeholder")
VALUE_KINDS = ("Button", "DownloadButton", "UploadButton", "Markdown")
CHOICE_KINDS = ("Radio", "Dropdown", "CheckboxGroup")


def _in(value, lang):
    """A collected property in `lang`: text, or (label, value) choices with their labels translated."""
    if isinstance(value, list):
        return [(t(label, lang), v) for label, v in value]
    return t(value, lang)


def collect(blocks) -> list[tuple[object, dict]]:
    """(component, {prop: English text}) for every component of `blocks` with text in the table."""
    found = []
    for block in blocks.blocks.values():
        props = {}
        for prop in TEXT_PROPS:
            value = getattr(block, prop, None)
            if isinstance(value, str) and value in ZH:
                props[prop] = value
        kind = type(block).__name__
        value = getattr(block, "value", None)
        if kind in VALUE_KINDS and isinstance(value, str) and value in ZH:
            props["value"] = value
        if kind == "Tab" and isinstance(getattr(block, "label", None), str) and block.label in ZH:
            props["label"] = block.label
        choices = getattr(block, "choices", None) if kind in CHOICE_KINDS else None
        if choices and any(isinstance(c, (tuple, list)) and c and c[0] in ZH for c in choices):
            props["choices"] = [tuple(c) for c in choices]  # (label, value): the labels are page text
        if props:
            found.append((block, props))
    return found


def wire(demo, radio) -> list:
    """Connect `radio` (values 'en'/'zh') so a change re-labels every translatable component of `demo`."""
    items = collect(demo)
    comps = [c for c, _ in items]

    def relabel(lang, request: gr.Request):
        remember(getattr(request, "session_hash", None), lang)
        return [gr.update(**{k: _in(v, lang) for k, v in props.items()}) for _, props in items]

    radio.change(relabel, radio, comps, api_name="language", queue=False, js=GRADIO_TEXT_JS)
    # A browser set to Chinese opens the page in Chinese (Gradio's own texts already follow the browser's locale).
    demo.load(None, None, radio, js="() => (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en'")
    return comps


def in_language(handler):
    """`handler(*inputs, request)` as a listener of the language radio: (lang, *inputs); the session's language is
    set before it runs (the radio's own relabel may not have run yet)."""

    def run(lang, *inputs, request: gr.Request = None):
        remember(getattr(request, "session_hash", None), lang)
        return handler(*inputs, request=request)

    return run


# Gradio's own texts (the upload area, toast titles) come from its front end, translated by the browser's locale
# (gr.I18n only adds an app's own keys, looked up by that same locale). When the radio picks a language the browser
# is not set to, this swaps those few texts in place, and keeps swapping as Gradio draws new ones.
GRADIO_ZH = {"Drop File Here": "将文件拖放到此处", "- or -": "- 或 -", "Click to Upload": "点击上传",
             "Drop Image Here": "将图像拖放到此处", "Error": "错误", "Warning": "警告", "Info": "提示"}
GRADIO_TEXT_JS = """(lang) => {
  const zh = %s;
  const swap = () => {
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const key = n.nodeValue.trim();
      if (window.tunerLang === 'zh' && zh[key]) { n.tunerEn = n.nodeValue; n.nodeValue = n.nodeValue.replace(key, zh[key]); }
      else if (window.tunerLang !== 'zh' && n.tunerEn) { n.nodeValue = n.tunerEn; delete n.tunerEn; }
    }
  };
  window.tunerLang = lang;
  if (!window.tunerObserver) {
    window.tunerObserver = new MutationObserver(() => { if (window.tunerLang === 'zh') swap(); });
    window.tunerObserver.observe(document.body, {childList: true, subtree: true});
  }
  swap();
  return lang;
}""" % json.dumps(GRADIO_ZH, ensure_ascii=False)
