"""English/Chinese page text: the table covers the page, the language radio re-labels it, errors come back in the
chosen language with their details (run ids, row numbers) kept."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tuner.ui import i18n

REPO = Path(__file__).resolve().parents[1]
ERROR_SOURCES = [*sorted((REPO / "tuner" / "ui").glob("*.py")), REPO / "tuner" / "export.py", REPO / "tuner" / "hub.py",
                 REPO / "tuner" / "runs.py", REPO / "tuner" / "inference.py", REPO / "tuner" / "errors.py"]


def raised_sentences(path: Path) -> list[str]:
    """Sentences of `raise XError("...")` in a module; f-string holes become a sample value."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
            arg = node.exc.args[0]
            if not name.endswith("Error") or name in ("ValueError", "TypeError", "KeyError", "OSError"):
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                out.append("".join(v.value if isinstance(v, ast.Constant) else "x1" for v in arg.values))
    return out


def test_every_error_the_page_can_show_is_translated():
    sentences = {s for p in ERROR_SOURCES for s in raised_sentences(p)}
    sentences.add("Something went wrong on the server; the details are in the log. Please try again.")
    assert len(sentences) > 20
    missing = sorted(s for s in sentences if i18n.translate_error(s, "zh") == s)
    assert not missing, missing
    assert all(i18n.translate_error(s, "en") == s for s in sentences)


def test_error_patterns_keep_their_details():
    zh = i18n.translate_error("Run 20260101-000000-abcdef is running; only interrupted, stopped or failed runs can be resumed.", "zh")
    assert zh == "运行 20260101-000000-abcdef 的状态是 running；只有中断、停止或失败的运行可以继续。"
    zh = i18n.translate_error("Row 118 of the training file: the label ('label') is empty; fill it in or delete the row.", "zh")
    assert zh == "训练文件第 118 行：标签（“label”）为空；请填写或删除该行。"
    assert i18n.translate_error("A sentence nobody wrote.", "zh") == "A sentence nobody wrote."


@pytest.fixture(scope="module")
def page():
    from tuner.ui import build_app

    return build_app()


def page_texts(demo) -> list[str]:
    texts = []
    for block in demo.blocks.values():
        for prop in ("label", "info", "placeholder"):
            value = getattr(block, prop, None)
            if isinstance(value, str) and value.strip():
                texts.append(value)
        if type(block).__name__ in i18n.VALUE_KINDS and isinstance(getattr(block, "value", None), str) and block.value.strip():
            texts.append(block.value)
    return texts


def test_page_text_is_translated(page):
    texts = page_texts(page)
    missing = sorted({x for x in texts if x not in i18n.ZH})
    print("untranslated:", missing)
    tabs = [b.label for b in page.blocks.values() if type(b).__name__ == "Tab"]
    assert tabs and all(label in i18n.ZH for label in tabs)
    buttons = [b.value for b in page.blocks.values() if type(b).__name__ == "Button"]
    assert sum(v not in i18n.ZH for v in buttons) <= 1, [v for v in buttons if v not in i18n.ZH]
    assert len(missing) <= len(texts) // 20, missing  # nearly all (a label added elsewhere minutes ago may lag)


def language_dependency(demo):
    for dep in demo.fns.values():
        if dep.api_name == "language":
            return dep
    raise AssertionError("no 'language' event on the page")


class FakeRequest:
    session_hash = "test-session-zh"


def test_language_radio_relabels_and_errors_follow(page):
    import gradio as gr
    from gradio.context import LocalContext

    from tuner.errors import RunError
    from tuner.ui.common import _as_page_error

    dep = language_dependency(page)
    outputs = dep.outputs
    updates = dep.fn("zh", FakeRequest())
    assert len(updates) == len(outputs) > 50
    by_id = {o._id: u for o, u in zip(outputs, updates)}
    tab = next(b for b in page.blocks.values() if type(b).__name__ == "Tab" and b.label == "2 · Train")
    assert by_id[tab._id]["label"] == "2 · 训练"
    classify = next(b for b in page.blocks.values() if type(b).__name__ == "Button" and b.value == "Classify")
    assert by_id[classify._id]["value"] == "分类"
    back = dep.fn("en", FakeRequest())
    assert dict(zip([o._id for o in outputs], back))[tab._id]["label"] == "2 · Train"

    dep.fn("zh", FakeRequest())
    token = LocalContext.request.set(FakeRequest())
    try:
        err = _as_page_error(RunError("Run 20260101-000000-abcdef does not exist; pick a run from the list."), "x")
        generic = _as_page_error(ValueError("secret internals"), "x")
    finally:
        LocalContext.request.reset(token)
    assert isinstance(err, gr.Error) and err.message == "运行 20260101-000000-abcdef 不存在；请从列表中选择运行。"
    assert generic.message == "服务器出错了；详细信息已写入日志，请重试。"
    err_en = _as_page_error(RunError("Pick a finished run first."), "x")  # outside any session: English
    assert err_en.message == "Pick a finished run first."


def test_every_train_setting_on_the_page_has_a_chinese_label_and_help():
    from tuner.config import field_meta
    from tuner.ui.train_tab import EXTRA_FIELDS, NUMERIC, label_of

    kept = {"r", "alpha", "dropout", "LoRA alpha", "LoRA dropout", "DoRA"}  # LoRA's own symbols read the same in Chinese
    missing = []
    for path in [p for p, *_ in NUMERIC] + EXTRA_FIELDS:
        label, help_text = label_of(path), field_meta(path)["help"]
        missing += [text for text in (label, help_text) if text not in kept and i18n.t(text, "zh") == text]
    assert not missing, missing
