"""The task contract (tuner/tasks/base.py): every registered task states its description in full, and a new task
plugs in by its attributes and hooks alone: the CLI summary, the Data / Evaluate / Try-it tabs, the methods it can
train and the model card ask the task, never its name. The newcomer here is a toy multi-label classifier that is
registered for the length of one test."""

from __future__ import annotations

import pytest

from tuner import methods
from tuner.config import field_meta
from tuner.tasks import get_task, registry, report_task, task_names
from tuner.tasks.base import Task
from tuner.tasks.common import Splits

DESCRIPTION = ("name", "title", "peft_task_type", "auto_class", "hub_tag", "selection_metric", "headline_metric")


@pytest.mark.parametrize("name", task_names())
def test_every_task_states_its_description(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    for attr in DESCRIPTION:
        assert isinstance(getattr(task, attr), str) and getattr(task, attr), attr
    assert task.peft_task_type in ("SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM")
    assert task.auto_class.startswith("AutoModelFor")
    assert task.demo in ("classifier", "tagger", "chat")
    assert set(task.column_roles) == {"text_columns", "label_column"}
    assert task.floors and all(isinstance(f, str) for f in task.floors)
    for path in task.settings_fields:  # the Train tab builds a widget from each field's metadata
        assert field_meta(path)["help"], path
    assert task.classical_floor is None or callable(task.classical_floor)


def test_the_three_tasks_are_described_as_they_behave():
    cls, ner, chat = (get_task(n) for n in ("classification", "ner", "chat"))
    assert (cls.peft_task_type, ner.peft_task_type, chat.peft_task_type) == ("SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM")
    assert (cls.demo, ner.demo, chat.demo) == ("classifier", "tagger", "chat")
    assert chat.generative and chat.compares_with_base and not chat.label_head
    assert not any(t.generative or t.compares_with_base for t in (cls, ner))
    assert cls.sort_validation and cls.classical_floor is not None and ner.classical_floor is None
    assert ner.prediction_suffix == ".jsonl" and cls.prediction_suffix == ".csv"
    assert not methods.supported(ner, "prompt_tuning") and methods.supported(cls, "prompt_tuning")
    assert methods.supported(chat, "p_tuning") and methods.supported(ner, "prefix_tuning")


def test_optional_hooks_have_defaults():
    cls, chat = get_task("classification"), get_task("chat")
    assert cls.evaluate(None, None, None, None) is None  # None: the report comes from report_from_output
    assert cls.summarize({"accuracy": 0.5}) is None and cls.report_notes({}) == ""
    assert cls.report_rows({"per_label": [{"label": "a"}]}) == [{"label": "a"}]
    assert cls.demo_view({"b": 0.7, "a": 0.3}) == {"scores": {"b": 0.7, "a": 0.3}, "chosen": None}
    assert cls.chosen_labels({"b": 0.7, "a": 0.3}) == ["b"]
    assert cls.file_columns({"b": 0.7, "a": 0.3}) == {"predicted_label": "b", "confidence": 0.7}
    assert cls.file_columns(None) == {"predicted_label": "", "confidence": None}
    assert chat.report_rows({"samples": [{"prompt": "p", "reference": "r", "finetuned": "f", "base": "b", "x": 1}]}) \
        == [{"prompt": "p", "reference": "r", "finetuned": "f", "base": "b"}]
    assert "reply tokens scored" in chat.report_notes({"eval_tokens": 5})
    assert report_task({}) is cls and report_task({"task": "no-such-task"}) is cls
    assert report_task({"task": "chat"}) is chat


class ToyMultiLabel(Task):
    """Rows with several labels, sigmoid scores, every label over 0.5 chosen: enough to prove the contract."""

    name = "toy-multi-label"
    title = "Toy multi-label classification"
    peft_task_type = "SEQ_CLS"
    auto_class = "AutoModelForSequenceClassification"
    hub_tag = "text-classification"
    noun = "a multi-label classifier"
    column_roles = {"text_columns": "Text column(s)", "label_column": "Labels column"}
    count_word = "label sets"
    selection_metric = "micro_f1"
    headline_metric = "micro_f1"
    baseline_title = "no labels"

    def propose(self, df):
        return {"text_columns": ["text"], "label_column": "labels"}

    def inspect(self, df, cfg):
        return {}

    def load_splits(self, cfg):
        return Splits({}, {}, {"task": self.name, "labels": ["a", "b", "c"]})

    def build_model(self, source, meta, dtype=None, attn_implementation=None, **overrides):
        raise NotImplementedError

    def modules_to_save(self, model):
        return ["classifier"]

    def encode(self, split, tokenizer, max_length):
        raise NotImplementedError

    def collator(self, tokenizer):
        raise NotImplementedError

    def compute_metrics(self, meta):
        return None

    def predict(self, model, tokenizer, texts, meta, max_length, **kw):
        return [{"a": 0.9, "b": 0.6, "c": 0.1} for _ in texts]

    def format_prediction(self, text, prediction):
        return ";".join(self.chosen_labels(prediction))

    def chosen_labels(self, prediction):
        return [label for label, score in prediction.items() if score > 0.5]

    def demo_view(self, prediction):
        return {"scores": prediction, "chosen": self.chosen_labels(prediction)}

    def file_columns(self, prediction):
        return {"predicted_labels": ";".join(self.chosen_labels(prediction)) if prediction else ""}


@pytest.fixture
def toy():
    task = registry.register(ToyMultiLabel())
    yield task
    del registry._REGISTRY[task.name]


def test_a_new_task_plugs_in_by_its_description(toy):
    from tuner.cli import summarize
    from tuner.ui.data_tab import _summary_md
    from tuner.ui.evaluate_tab import report_views
    from tuner.ui.try_tab import label_view

    assert get_task(toy.name) is toy and toy.name in task_names()
    assert methods.supported(toy, "prompt_tuning")  # a sequence classifier: every method
    methods.check_supported(toy, "lora")
    # the CLI's summary table names the task's own baseline
    report = {"task": toy.name, "micro_f1": 0.8, "baseline": {"name": "no labels", "micro_f1": 0.1},
              "per_label": [{"label": "a", "precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2}]}
    assert "no labels" in summarize(report).splitlines()[0]
    # the Evaluate tab's second table: the task's rows (the default: the per-label report)
    _, _, per, _ = report_views({**report, "n_examples": 2})
    assert list(per["label"]) == ["a"]
    # the Data tab counts what the task counts
    info = {"rows": 3, "text_columns": ["text"], "label_column": "labels", "label_counts": {"a;b": 2, "c": 1},
            "length_chars": {"min": 1, "median": 2, "p95": 3, "max": 4},
            "length_tokens_approx": {"min": 1, "median": 2, "p95": 3, "max": 4}}
    md = _summary_md(info, "csv", [], None, toy)
    assert "2 label sets" in md and "labels column: labels" in md
    # Try it: the chosen labels title the scores
    shown = label_view(toy, {"a": 0.9, "b": 0.6, "c": 0.1})
    assert shown.label.endswith("a, b")
    assert label_view(get_task("classification"), {"a": 0.9, "b": 0.1}) == {"a": 0.9, "b": 0.1}


def test_file_prediction_writes_the_tasks_columns(toy, tmp_path):
    import pandas as pd

    class FakePredictor:
        meta = {"text_columns": ["text"], "labels": ["a", "b", "c"]}

        def predict(self, texts):
            return toy.predict(None, None, texts, self.meta, 32)

    path = tmp_path / "in.csv"
    texts = [f"text {i}" for i in range(19)] + [""]  # one row in 20 has no text: left out, counted, kept in place
    pd.DataFrame({"text": texts, "id": range(20)}).to_csv(path, index=False)
    info = toy.predict_file(FakePredictor(), path, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(out["predicted_labels"]) == ["a;b"] * 19 + [""]
    assert info["rows"] == 20 and info["label_counts"] == {"a": 19, "b": 19} and "left_out" in info


def test_the_memory_estimate_builds_a_tasks_model_by_its_auto_class():
    from transformers import AutoConfig

    from tuner import memory

    cfg = AutoConfig.for_model("bert", vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)
    model = memory._meta_model(get_task("ner"), cfg, {"labels": ["O", "B-X", "I-X"]})
    assert type(model).__name__ == "BertForTokenClassification" and model.config.num_labels == 3
