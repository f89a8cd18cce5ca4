"""Every tab in Chinese after a finished run of each task (issue #25 item 5): the tabs' handlers are called the way the
page calls them, in a browser session whose language is 中文, and everything they return (sentences, table headers,
chart and figure titles, dropdown choices, toasts) is searched for English sentences left (tests/zh_checker.py: a run
of 3+ English words outside ids, numbers, code, model/file/column/label names). The failure lists each one found.

Runs train in-process on tiny models (a few steps each): classification, multi-label, entity tagging and chat."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tuner.config import RunConfig
from zh_checker import untranslated

pytestmark = pytest.mark.slow

SESSION = "zh-everywhere"


class Request:
    """What a handler reads of a gr.Request: the browser session (its language) and no user (login off)."""

    session_hash = SESSION
    username = None


CONLL_TEMPLATES = [
    [("Angela", "B-PER"), ("Merkel", "I-PER"), ("visited", "O"), ("Paris", "B-LOC"), (".", "O")],
    [("Tim", "B-PER"), ("Cook", "I-PER"), ("works", "O"), ("at", "O"), ("Apple", "B-ORG"), (".", "O")],
    [("The", "O"), ("office", "O"), ("in", "O"), ("Berlin", "B-LOC"), ("opened", "O"), (".", "O")],
    [("Siemens", "B-ORG"), ("hired", "O"), ("Maria", "B-PER"), ("in", "O"), ("Munich", "B-LOC"), (".", "O")],
]


def conll(n: int) -> str:
    return "\n\n".join("\n".join(f"{w} {t}" for w, t in CONLL_TEMPLATES[i % len(CONLL_TEMPLATES)]) for i in range(n)) + "\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir, sample_csv_factory):
    """A runs folder with one finished tiny run of each task, and the files they trained on."""
    from tuner import runs, train
    from tuner.ui import i18n

    root = tmp_path_factory.mktemp("zh-everywhere")
    files = {"classification": sample_csv_factory(root / "tickets.csv", per_label=12),
             "ner": root / "train.conll"}
    files["ner"].write_text(conll(32), encoding="utf-8")
    assets = Path(__file__).resolve().parents[1] / "assets"
    files["chat"], files["multilabel"] = assets / "support_chat.jsonl", assets / "support_tickets_multilabel.csv"
    model = {"name": str(tiny_model_dir), "max_length": 32}
    # a few steps each: 36 rows / batch 16, 32 sentences / batch 16, ...
    train_small = {"epochs": 1, "batch_size": 16, "evals": 1, "learning_rate": 5e-3, "precision": "fp32"}
    configs = {
        "classification": {"model": model, "train": train_small},
        "multilabel": {"model": model, "train": train_small},
        "ner": {"model": model, "train": train_small},
        "chat": {"model": {"name": "tiny:llama", "max_length": 96},
                 "train": {**train_small, "batch_size": 8, "eval_batch_size": 8},
                 "chat": {"eval_samples": 2, "max_new_tokens": 6}},
    }
    made = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        mp.delenv("WANDB_API_KEY", raising=False)
        for task, over in configs.items():
            cfg = RunConfig.from_dict({"task": task, "name": f"tiny {task}",
                                       "data": {"train_file": str(files[task])}, **over})
            run = runs.create_run(cfg)
            assert train.main([str(run.config_path)]) == 0, run.log_path.read_text()[-3000:]
            assert run.status()["state"] == "completed" and run.metrics(), task
            made[task] = run
        i18n.remember(SESSION, "zh")
        yield {"root": root, "runs": made, "files": files}


@pytest.fixture
def zh(world):
    """Handlers run inside the Chinese browser session (as Gradio's LocalContext sets it for an event)."""
    from gradio.context import LocalContext

    from tuner.ui import i18n

    i18n.remember(SESSION, "zh")
    token = LocalContext.request.set(Request())
    try:
        yield Request()
    finally:
        LocalContext.request.reset(token)


# ---- what a handler returned, as (where, text) pairs ------------------------------------------------------------
def texts_of(value, where: str, cells: bool = True) -> list[tuple[str, str]]:
    """Every piece of text in a handler's output: strings, component updates (label/info/value/choices/title),
    DataFrames (headers always; cells when `cells`), matplotlib figures (titles, axis names)."""
    import gradio as gr

    out: list[tuple[str, str]] = []
    if value is None or isinstance(value, (int, float, bool)):
        return out
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, pd.DataFrame):
        out += [(f"{where} header", str(c)) for c in value.columns]
        if cells:
            out += [(f"{where} cell", v) for v in value.astype(str).to_numpy().ravel()]
        return out
    if isinstance(value, dict) and "__type__" in value:  # gr.update(...)
        return [t for k, v in value.items() if k in ("label", "info", "value", "choices", "title", "placeholder")
                for t in texts_of(v, f"{where}.{k}", cells)]
    if isinstance(value, gr.components.Component):
        for prop in ("label", "info", "placeholder", "title", "x_title", "y_title"):
            out += texts_of(getattr(value, prop, None), f"{where}.{prop}", cells)
        if getattr(value, "choices", None):
            out += [(f"{where}.choices", str(c[0] if isinstance(c, (tuple, list)) else c)) for c in value.choices]
        v = getattr(value, "value", None)
        if isinstance(v, dict) and "headers" in v:  # a Dataframe's value
            out += [(f"{where} header", str(h)) for h in v["headers"]]
        elif isinstance(v, (str, pd.DataFrame)):
            out += texts_of(v, f"{where}.value", cells)
        return out
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], str) for x in value):
            return [(f"{where}.choice", x[0]) for x in value]  # (label, value) choices
        for i, x in enumerate(value):
            out += texts_of(x, f"{where}[{i}]", cells)
        return out
    if hasattr(value, "axes") and hasattr(value, "suptitle"):  # a matplotlib Figure
        for ax in value.axes:
            out += [(f"{where} title", ax.get_title()), (f"{where} x axis", ax.get_xlabel()),
                    (f"{where} y axis", ax.get_ylabel())]
        return out
    return out


def allowed_names(world) -> set[str]:
    """Names from the data and the runs: column and label names, run names, words of the sample texts."""
    names = {"tiny", "classification", "multilabel", "ner", "chat"}
    for run in world["runs"].values():
        meta = run.meta() if hasattr(run, "meta") else {}
        for key in ("labels", "types", "text_columns"):
            for x in meta.get(key) or []:
                names.update(str(x).lower().split())
    return names


def check(found: list[tuple[str, str]], world) -> None:
    left = untranslated(found, allowed_names(world))
    assert not left, "English left on the Chinese page:\n" + "\n".join(left)


# ---- the tabs -----------------------------------------------------------------------------------------------------
def test_data_tab_in_chinese(world, zh):
    from tuner.ui import data_tab

    found = []
    for task, path in world["files"].items():
        out = data_tab.on_upload(str(path), None, task, zh)
        state, text_dd, label_dd, summary, _preview, counts, skipped, error = out
        assert summary and not error, (task, error)
        found += texts_of([text_dd, label_dd, summary, counts, skipped, error], f"data[{task}]")
        found += texts_of(_preview, f"data[{task}] preview", cells=False)
    check(found, world)


def test_train_tab_in_chinese(world, zh):
    from tuner.ui import train_tab

    found = []
    for task, run in world["runs"].items():
        found += texts_of(list(train_tab.poll(run.id, zh)), f"train[{task}]", cells=False)
    check(found, world)


def test_memory_and_time_estimates_in_chinese(world, zh, monkeypatch, tiny_model_dir):
    from tuner.ui import data_tab, train_tab

    monkeypatch.setenv("TUNER_MODEL_DIRS", str(tiny_model_dir.parent))

    state = data_tab.on_upload(str(world["files"]["classification"]), None, "classification", zh)[0]
    from tuner.config import RECIPES, load_recipe

    cfg = load_recipe(RECIPES / "classification.yaml")
    settings = {p: train_tab._get(cfg, p) for p, *_ in train_tab.NUMERIC}
    settings.update({"train.epochs": 1, "model.max_length": 32})
    mem, timing = train_tab.on_estimate(state, "classification", str(world["runs"]["ner"].config().model.name), [], "",
                                        **settings)
    check(texts_of([mem, timing], "estimate"), world)


def test_evaluate_tab_in_chinese(world, zh):
    from tuner.ui import evaluate_tab

    found = []
    for task, run in world["runs"].items():
        summary, headline, per_label, figure = evaluate_tab.show(run.id, zh)
        found += texts_of([summary, figure], f"evaluate[{task}]")
        found += texts_of(headline, f"evaluate[{task}] headline")
        found += texts_of(per_label, f"evaluate[{task}] per-label", cells=False)
    found += texts_of(evaluate_tab.show(None, zh), "evaluate[no run]")
    check(found, world)


def test_try_it_tab_in_chinese(world, zh, tmp_path):
    import gradio as gr

    from tuner.ui import try_tab

    found = texts_of(try_tab.choices(None, zh), "try choices")
    for task in ("classification", "multilabel", "ner", "chat"):
        found += texts_of(list(try_tab.on_run(world["runs"][task].id, zh)), f"try[{task}] note")
    for task in ("classification", "multilabel"):
        rid = world["runs"][task].id
        found += texts_of(try_tab.on_classify([rid], ["I was charged twice"], zh), f"try[{task}] classify")
        path = tmp_path / "predict.csv"
        pd.DataFrame({"text": ["charged twice", "parcel is late"], "title": ["a", "b"], "body": ["c", "d"]}).to_csv(
            path, index=False)
        found += texts_of(list(try_tab.on_file(rid, str(path), zh)), f"try[{task}] file")
    rid = world["runs"]["ner"].id
    mark, table = try_tab.tag_one(rid, "Angela Merkel visited Paris.", zh)
    found += texts_of([mark], "try[ner] tag")
    found += texts_of(list(try_tab.on_tag_file(rid, str(world["files"]["ner"]), zh)), "try[ner] file")
    for call in (lambda: try_tab.classify_one(world["runs"]["classification"].id, "", zh),
                 lambda: try_tab.tag_one(rid, "", zh)):
        with pytest.raises(gr.Error) as err:
            call()
        found.append(("try empty input", err.value.message))
    check(found, world)


def test_chat_tab_in_chinese(world, zh):
    from tuner.ui import chat_tab, data_tab

    found = texts_of(chat_tab.choices(None, zh), "chat choices")
    state = data_tab.on_upload(str(world["files"]["chat"]), None, "chat", zh)[0]
    tokens, summary = chat_tab.on_format(state, "tiny:llama", "auto", "", 0)
    found += texts_of(summary, "chat format") + [("chat format legend", lab) for _, lab in tokens if lab]
    check(found, world)


def test_runs_tab_in_chinese(world, zh):
    from tuner.ui import runs_tab

    table, pick = runs_tab.on_refresh(zh)
    found = texts_of(table, "runs table") + texts_of(pick, "runs pick")
    found += texts_of(list(runs_tab.compare_choices(zh)), "runs compare choices")
    ids = [world["runs"]["classification"].id, world["runs"]["multilabel"].id]
    diff, metrics, chart = runs_tab.on_compare(ids, "accuracy", zh)
    found += texts_of(diff, "compare diff", cells=False) + texts_of(metrics, "compare metrics") + texts_of(chart, "chart")
    check(found, world)


def test_export_tab_in_chinese(world, zh):
    from tuner.ui import export_tab

    found = texts_of(export_tab.choices(None, zh), "export choices")
    check(found, world)


def test_toasts_have_chinese_titles(world, zh, monkeypatch):
    """The toasts' own titles ('Info', 'Warning', 'Error') and their sentences."""
    import gradio as gr

    from tuner.errors import RunError
    from tuner.ui import common

    shown = []
    monkeypatch.setattr(gr, "Info", lambda message, **kw: shown.append((message, kw.get("title", "Info"))))
    monkeypatch.setattr(gr, "Warning", lambda message, **kw: shown.append((message, kw.get("title", "Warning"))))
    common.toast("info", "Training started.")
    common.toast("warning", "Queued: position {n}.", n=2)
    error = common._as_page_error(RunError("Pick a run to resume."), "x")
    assert [title for _, title in shown] == ["提示", "警告"] and error.title == "错误"
    check([("toast", m) for m, _ in shown] + [("toast", t) for _, t in shown] + [("error", error.message)], world)


def test_the_page_itself_in_chinese(world, zh):
    """The static page after the language radio switched to 中文: every label, help text and button."""
    from tuner.ui import build_app

    demo = build_app()
    dep = next(d for d in demo.fns.values() if d.api_name == "language")
    found = []
    for comp, update in zip(dep.outputs, dep.fn("zh", Request())):
        found += texts_of(update, f"{type(comp).__name__}")
    check(found, world)


def test_checker_finds_english(world):
    """The checker itself: it catches a sentence and lets ids, numbers and names through."""
    assert untranslated([("x", "Trainable 1.2M of 22.7M parameters")])
    assert not untranslated([("x", "可训练参数 1.2M / 22.7M（5.3%）· accuracy 0.92 · `python -m tuner train`")])
    assert not untranslated([("x", json.dumps({"billing": 3}))], {"billing"})
