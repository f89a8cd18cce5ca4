"""The Train form, simple first (issue #25): tasks named by what they do, the recipe following the Data tab's task,
the estimate following recipe and model, fields that do not apply hidden, and the Chat tab's tiny-model note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuner.config import RECIPES, RunConfig, load_recipe, recipe_choices
from tuner.tasks import task_names
from tuner.ui import chat_tab, data_tab, i18n, train_tab

ROOT = Path(__file__).resolve().parents[1]


def build(monkeypatch, gpus: int = 0):
    from tuner import jobs
    from tuner.ui import build_app

    monkeypatch.setattr(jobs, "gpu_count", lambda: gpus)
    return build_app()


def by_label(demo, label: str):
    found = [b for b in demo.blocks.values() if getattr(b, "label", None) == label]
    assert len(found) == 1, (label, len(found))
    return found[0]


def handler(demo, fn):
    """The page's event that runs `fn` (its inputs and outputs)."""
    deps = [d for d in demo.fns.values() if d.fn is fn]
    assert deps, f"{fn.__name__} is not wired on the page"
    return deps[0]


def test_tasks_are_offered_by_what_they_do_with_their_ids_as_values():
    choices = data_tab.task_choices()
    assert [v for _, v in choices] == task_names()
    titles = dict((v, t) for t, v in choices)
    assert titles["classification"] == "Sort texts into labels" and titles["ner"] == "Find names in text"
    assert titles["chat"] == "Chat assistant" and titles["multilabel"] == "Tag texts with several labels"
    assert not set(titles.values()) & set(task_names())  # never a raw id as a label
    assert all(i18n.t(t, "zh") != t for t in titles.values())  # and each has its Chinese title


def test_the_page_lists_tasks_and_recipes_by_title_and_the_language_switch_relabels_them(monkeypatch):
    demo = build(monkeypatch)
    task = by_label(demo, "Task")
    assert [tuple(c) for c in task.choices] == data_tab.task_choices() and task.value == "classification"
    recipe = by_label(demo, "What to train (recipe)")
    labels = dict((v, lab) for lab, v in recipe.choices)
    assert labels["ner"] == "Find names in text: ner" and labels["chat-tiny"] == "Chat assistant: chat-tiny"
    relabel = next(d for d in demo.fns.values() if d.api_name == "language")
    updates = dict(zip((o._id for o in relabel.outputs), relabel.fn("zh", type("R", (), {"session_hash": "f"})())))
    zh_tasks = dict((v, lab) for lab, v in updates[task._id]["choices"])
    assert zh_tasks["ner"] == "找出文本中的名称（实体标注）"
    assert dict((v, lab) for lab, v in updates[recipe._id]["choices"])["ner"] == "找出文本中的名称（实体标注）：ner"


@pytest.mark.parametrize("task, column", [("chat", "Answer column"), ("ner", "Tags column"),
                                          ("multilabel", "Labels column"), ("classification", "Label column")])
def test_the_label_column_is_named_for_the_task(task, column):
    _, label = data_tab.column_labels(task)
    assert label["label"] == column


def test_choosing_a_task_switches_the_recipe_to_one_of_that_task():
    for task in task_names():
        update = train_tab.on_data_task({"task": task}, "classification")
        names = [v for _, v in update.choices]
        assert sorted(names) == recipe_choices()
        ours = [n for n in names if train_tab.recipe_task(n) == task]
        assert ours and names[:len(ours)] == ours, (task, names)  # that task's recipes come first
        assert train_tab.recipe_task(update.value) == task
    assert train_tab.on_data_task({"task": "ner"}, "classification").value == "ner"
    # chat: the offline tiny recipe, not a gated Hub model; a recipe already of the task stays
    assert train_tab.on_data_task({"task": "chat"}, "classification").value == "chat-tiny"
    assert train_tab.on_data_task({"task": "chat"}, "chat-smollm2-135m").value == "chat-smollm2-135m"
    assert train_tab.on_data_task({"task": "classification"}, "classification-quick").value == "classification-quick"
    assert train_tab.on_data_task(None, "classification") == {"__type__": "update"}


def test_the_page_wires_the_recipe_to_the_upload_and_clears_the_estimate_on_a_new_recipe_or_model(monkeypatch):
    demo = build(monkeypatch)
    recipe, model = by_label(demo, "What to train (recipe)"), by_label(demo, "Model to start from")
    follow = handler(demo, train_tab.on_data_task)
    assert [o._id for o in follow.outputs] == [recipe._id]
    state = follow.inputs[0]
    assert type(state).__name__ == "State" and (state._id, "change") in {tuple(t) for t in follow.targets}
    clear = handler(demo, train_tab.clear_estimate)
    estimate = handler(demo, train_tab.on_estimate)
    assert {o._id for o in clear.outputs} == {o._id for o in estimate.outputs}  # the very lines Estimate writes
    triggers = {(block_id, event) for block_id, event in clear.targets}
    assert (recipe._id, "change") in triggers and (model._id, "change") in triggers
    assert train_tab.clear_estimate() == ("", "")


def test_the_first_view_is_the_few_choices_and_the_rest_is_folded(monkeypatch):
    demo = build(monkeypatch)
    accordions = {b.label: b for b in demo.blocks.values() if type(b).__name__ == "Accordion"}
    advanced = accordions["Advanced: adapter, method, quantization, hardware"]
    assert advanced.open is False and accordions["More settings"].open is False

    def inside(block, folder) -> bool:
        parent = block.parent
        while parent is not None:
            if parent is folder:
                return True
            parent = parent.parent
        return False

    for label in ("LoRA rank (r)", "LoRA alpha", "LoRA dropout", "LoRA target modules", "Method", "Quantization"):
        assert inside(by_label(demo, label), advanced), label
    for label in ("What to train (recipe)", "Model to start from", "Epochs (passes over the data)",
                  "Time budget (minutes)"):
        assert not any(inside(by_label(demo, label), a) for a in accordions.values()), label


def test_quantization_options_are_hidden_until_4_bit_is_chosen(monkeypatch):
    demo = build(monkeypatch)
    for label in ("4-bit format", "Double quantization", "Compute precision"):
        assert by_label(demo, label).visible is False, label
    assert by_label(demo, "Quantization").visible is not False
    assert [u["visible"] for u in train_tab.on_quantization("4bit")] == [True] * 3
    assert [u["visible"] for u in train_tab.on_quantization("8bit")] == [False] * 3  # 8-bit reads none of them
    assert [u["visible"] for u in train_tab.on_quantization("none")] == [False] * 3
    wired = handler(demo, train_tab.on_quantization)
    assert wired.inputs[0] is by_label(demo, "Quantization")


@pytest.mark.parametrize("gpus, shown", [(0, False), (2, True)])
def test_gpu_fields_show_only_on_a_machine_with_gpus(monkeypatch, gpus, shown):
    demo = build(monkeypatch, gpus=gpus)
    assert by_label(demo, "GPUs").visible is shown and by_label(demo, "Processes").visible is shown


def test_help_texts_open_with_plain_words():
    from tuner.config import field_meta

    engineer = ("LoRA scaling numerator", "(bench/)", "one of the registered tasks", "gloo",
                "per optimizer step per device")
    paths = [p for p, *_ in train_tab.NUMERIC] + train_tab.EXTRA_FIELDS + train_tab.task_paths() + [
        "task", "model.name", "adapter.target_modules"]
    for path in paths:
        help_text = field_meta(path)["help"]
        first = help_text.split(".")[0].split("(")[0]
        assert not any(w.lower() in first.lower() for w in engineer), (path, help_text)
        assert "(bench/)" not in help_text and "registered tasks" not in help_text, path
        assert i18n.t(help_text, "zh") != help_text, path


def _finished_chat_run(model: str, name: str):
    from tuner import runs

    cfg = RunConfig.from_dict({"task": "chat", "model": {"name": model},
                               "data": {"train_file": str(ROOT / "assets" / "support_chat.jsonl")}})
    run = runs.create_run(cfg, name=name)
    run.adapter_dir.mkdir(parents=True, exist_ok=True)
    (run.adapter_dir / "tuner_meta.json").write_text(json.dumps({"task": "chat", "base_model": model}))
    return run


def test_the_chat_tab_says_when_the_model_is_a_tiny_test_model(runs_dir):
    tiny = _finished_chat_run("tiny:llama", "toy")
    real = _finished_chat_run("HuggingFaceTB/SmolLM2-135M-Instruct", "real")
    note = chat_tab.model_note(tiny.id)
    assert "This is a tiny test model: its answers are gibberish by design" in note
    assert chat_tab.model_note(real.id) == "" and chat_tab.model_note(None) == ""
    assert chat_tab.model_note("20990101-000000-nothere") == ""  # no such run: no note, no error
    assert i18n.say(chat_tab.TINY_NOTE, "zh") != chat_tab.TINY_NOTE


def test_every_recipe_has_a_label_and_a_task_recipe():
    for name in recipe_choices():
        assert train_tab.recipe_task(name) == load_recipe(RECIPES / f"{name}.yaml").task
        assert train_tab.recipe_label(name).endswith(name) and i18n.t(train_tab.recipe_label(name), "zh") != name
    for task in task_names():
        assert train_tab.task_recipe(task) in recipe_choices()


def test_empty_tables_have_real_headers(monkeypatch):
    demo = build(monkeypatch)
    tables = [b for b in demo.blocks.values() if type(b).__name__ == "Dataframe"]
    assert len(tables) >= 5
    for table in tables:
        headers = (table.value or {}).get("headers") or []
        assert headers and not any(h.isdigit() for h in map(str, headers)), (table.label, headers)
        if not table.value.get("data"):  # an empty table: a handler's None leaves its headers, not 1 2 3
            assert table.postprocess(None).headers == headers


def test_errors_are_short_toasts_and_a_new_tab_closes_them(monkeypatch):
    from tuner.errors import RunError
    from tuner.ui import CLOSE_TOASTS
    from tuner.ui.common import TOAST_SECONDS, _as_page_error

    assert _as_page_error(RunError("Pick a finished run first."), "x").duration == TOAST_SECONDS < 10
    demo = build(monkeypatch)
    tabs = {b._id for b in demo.blocks.values() if type(b).__name__ == "Tab"}
    closing = [d for d in demo.fns.values() if d.js == CLOSE_TOASTS]
    assert len(closing) == 1 and {t[0] for t in closing[0].targets} == tabs


def test_a_recipe_for_another_task_is_refused_naming_both_tasks_by_title():
    from tuner.errors import ConfigError
    from tuner.ui.i18n import error_text

    state = {"task": "ner", "train_file": "x.conll", "text_columns": ["tokens"], "label_column": "tags"}
    with pytest.raises(ConfigError) as info:
        train_tab.build_config(state, "classification", "default", [], [])
    assert str(info.value) == ("The recipe 'classification' is for “Sort texts into labels”, but the Data tab's task "
                               "is “Find names in text”; pick a recipe for “Find names in text”.")
    assert "找出文本中的名称" in error_text(info.value, "zh")
