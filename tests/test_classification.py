"""Classification task: the evaluation report checked by hand, the baseline, column proposals, encoding."""

from __future__ import annotations

import pandas as pd
import pytest

from tuner.errors import ConfigError
from tuner.tasks import get_task, task_names

TASK = get_task("classification")
META = {"task": "classification", "labels": ["a", "b", "c"], "text_columns": ["text"], "label_column": "label"}

# refs  : a a a b b c
# preds : a a b b c c
REFS = [0, 0, 0, 1, 1, 2]
PREDS = [0, 0, 1, 1, 2, 2]


def test_registry():
    assert "classification" in task_names()
    assert TASK.name == "classification"
    with pytest.raises(ConfigError):
        get_task("nope")


def test_report_by_hand():
    report = TASK.report(PREDS, REFS, META)
    # 4 of 6 right.
    assert report["accuracy"] == pytest.approx(4 / 6)
    # a: P 2/2, R 2/3, F1 0.8 | b: P 1/2, R 1/2, F1 0.5 | c: P 1/2, R 1/1, F1 2/3
    per = {row["label"]: row for row in report["per_label"]}
    assert [row["label"] for row in report["per_label"]] == ["a", "b", "c"]
    assert per["a"]["precision"] == pytest.approx(1.0)
    assert per["a"]["recall"] == pytest.approx(2 / 3)
    assert per["a"]["f1"] == pytest.approx(0.8)
    assert per["b"]["precision"] == pytest.approx(0.5)
    assert per["b"]["recall"] == pytest.approx(0.5)
    assert per["b"]["f1"] == pytest.approx(0.5)
    assert per["c"]["precision"] == pytest.approx(0.5)
    assert per["c"]["recall"] == pytest.approx(1.0)
    assert per["c"]["f1"] == pytest.approx(2 / 3)
    assert [per[x]["support"] for x in "abc"] == [3, 2, 1]
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert report["recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    # rows = true label, columns = predicted label
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["labels"] == ["a", "b", "c"]
    assert report["n_examples"] == 6


def test_majority_baseline_from_training_labels():
    report = TASK.report(PREDS, REFS, META, train_labels=[1, 1, 1, 0, 2])
    base = report["baseline"]
    assert base["name"] == "majority class ('b')"
    # Always 'b': right on the 2 b's of 6; F1 for b = 2*(1/3*1)/(1/3+1) = 0.5, others 0.
    assert base["accuracy"] == pytest.approx(2 / 6)
    assert base["macro_f1"] == pytest.approx(0.5 / 3)
    assert base["recall"] == pytest.approx(1 / 3)


def test_majority_baseline_falls_back_to_the_references():
    base = TASK.report(PREDS, REFS, META)["baseline"]
    assert base["name"] == "majority class ('a')"
    assert base["accuracy"] == pytest.approx(3 / 6)
    assert base["macro_f1"] == pytest.approx((2 * 0.5 * 1 / 1.5) / 3)


def test_label_absent_from_validation_still_counts_in_macro_average():
    meta = {**META, "labels": ["a", "b", "c", "d"]}
    report = TASK.report([0, 1, 1], [0, 1, 1], meta)
    assert report["accuracy"] == 1.0
    assert report["macro_f1"] == pytest.approx(2 / 4)  # c and d score 0
    assert len(report["confusion_matrix"]) == 4 and report["per_label"][3]["support"] == 0


def test_perfect_and_compute_metrics_hook():
    import numpy as np

    logits = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 0.5]])
    out = TASK.compute_metrics(META)((logits, np.array([0, 1, 2])))
    assert out == {"accuracy": 1.0, "macro_f1": 1.0, "precision": 1.0, "recall": 1.0}
    out = TASK.compute_metrics(META)((logits, np.array([0, 1, 1])))
    assert out["accuracy"] == pytest.approx(2 / 3)


# ---- column proposals ------------------------------------------------------------------------------
@pytest.mark.parametrize("columns, rows, expected", [
    (["title", "body", "category"], [["Refund", "charged twice", "billing"], ["Late", "parcel lost", "shipping"]],
     {"text_columns": ["title", "body"], "label_column": "category"}),
    (["text", "label"], [["hello there", "a"], ["bye now", "b"]],
     {"text_columns": ["text"], "label_column": "label"}),
    (["Label", "SMS"], [["ham", "see you later"], ["spam", "WIN a prize now"]],
     {"text_columns": ["SMS"], "label_column": "Label"}),
    (["id", "review", "sentiment"], [["1", "great film", "pos"], ["2", "dull plot", "neg"]],
     {"text_columns": ["review"], "label_column": "sentiment"}),
])
def test_propose_by_name(columns, rows, expected):
    assert TASK.propose(pd.DataFrame(rows, columns=columns)) == expected


def test_propose_guesses_unnamed_columns():
    rows = [[f"this is a fairly long text number {i} about something", "yes" if i % 2 else "no"] for i in range(20)]
    df = pd.DataFrame(rows, columns=["column_1", "column_2"])
    assert TASK.propose(df) == {"text_columns": ["column_1"], "label_column": "column_2"}


def test_propose_does_not_use_label_as_text():
    df = pd.DataFrame({"text": ["a b c", "d e f"], "body": ["x", "y"], "label": ["p", "q"]})
    proposal = TASK.propose(df)
    assert proposal["label_column"] not in proposal["text_columns"]


# ---- encoding and prediction shapes ----------------------------------------------------------------
def test_encode_truncates_and_keeps_labels(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    split = {"text": ["short", "word " * 100], "label": [1, 0]}
    ds = TASK.encode(split, tok, max_length=16)
    assert ds["labels"] == [1, 0]
    assert len(ds["input_ids"][1]) == 16 and len(ds["input_ids"][0]) < 16
    batch = TASK.collator(tok)([ds[0], ds[1]])
    assert batch["input_ids"].shape == (2, 16)  # padded to a multiple of 8


def test_predict_returns_sorted_probabilities_in_input_order(tiny_model_dir):
    import torch

    model = TASK.build_model(str(tiny_model_dir), META).eval()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    texts = ["a much longer text than the others so batches get sorted", "short", "medium length text"]
    out = TASK.predict(model, tok, texts, META, max_length=32, batch_size=2)
    assert len(out) == 3
    for probs, text in zip(out, texts):
        assert set(probs) == {"a", "b", "c"}
        values = list(probs.values())
        assert values == sorted(values, reverse=True)
        assert sum(values) == pytest.approx(1.0, abs=1e-5)
        enc = tok([text], return_tensors="pt", truncation=True, max_length=32)
        with torch.inference_mode():
            expected = torch.softmax(model(**enc).logits, -1)[0]
        assert [probs[x] for x in "abc"] == pytest.approx(expected.tolist(), abs=1e-5)
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}


@pytest.mark.parametrize("side,multiple", [("right", 1), ("left", 8)])
def test_pad_collator_builds_the_batches_of_datacollatorwithpadding(side, multiple):
    import torch
    from transformers import DataCollatorWithPadding

    from tuner import models
    from tuner.tasks.common import PadCollator

    tok = models.load_tokenizer(models.resolve("default"))
    tok.padding_side = side
    texts = ["ok", "a much longer sentence about a product that broke after two days", "fine, thanks", "no"]
    rows = list(TASK.encode({"text": texts, "label": [0, 1, 2, 1]}, tok, 12))
    ours = PadCollator(tok, multiple)(rows)
    ref = DataCollatorWithPadding(tok, pad_to_multiple_of=None if multiple == 1 else multiple)(rows)
    assert set(ours) == set(ref) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    for key in ours:
        assert ours[key].dtype == ref[key].dtype, key
        assert torch.equal(ours[key], ref[key]), key
    assert ours["input_ids"].shape == (4, 16 if multiple == 8 else 12)  # the longest row is cut at 12 tokens
    assert ours["attention_mask"].sum().item() < ours["input_ids"].numel()  # padding was needed
