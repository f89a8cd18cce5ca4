"""The mistakes view (tuner.analysis.mistakes): on a tiny trained run it lists exactly the validation rows the model
gets wrong, most confident first, with the most confused label pairs; the CLI prints the same."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.analysis import mistakes
from tuner.config import RunConfig


def test_rank_mistakes_orders_by_confidence_and_skips_right_answers():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    rows = mistakes.rank_mistakes(["a", "b", "c", "d"], [0, 0, 0, 1], probs, ["neg", "pos"], rows=[10, 11, 12, 13])
    assert [r["row"] for r in rows] == [11, 12]  # wrong ones only, 0.8 before 0.6
    assert rows[0] == {"row": 11, "text": "b", "true": "neg", "predicted": "pos", "confidence": 0.8, "true_prob": 0.2}
    pairs = mistakes.confused_pairs(rows + [{"true": "pos", "predicted": "neg"}])
    assert pairs[0] == {"true": "neg", "predicted": "pos", "rows": 2}
    assert mistakes.filtered(rows, predicted="neg") == []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir, sample_csv_factory):
    from tuner import runs
    from tuner.train import train

    root = tmp_path_factory.mktemp("mistakes")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        (root / "runs").mkdir()
        cfg = RunConfig.from_dict({
            "name": "tiny mistakes", "data": {"train_file": str(sample_csv_factory(root / "t.csv", per_label=20)),
                                              "validation_fraction": 0.5},
            "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4, "alpha": 8},
            "train": {"epochs": 1, "batch_size": 8, "evals": 0, "learning_rate": 1e-3, "precision": "fp32"}})
        run = runs.create_run(cfg)
        train(cfg, run)  # in-process: the analysis only needs the saved adapter
        yield run


@pytest.mark.slow
def test_lists_exactly_the_wrong_validation_rows_most_confident_first(tiny_run):
    from tuner.inference import get_predictor
    from tuner.tasks import get_task

    found = mistakes.find(tiny_run)
    task = get_task("classification")
    split, meta = mistakes.validation_rows(tiny_run, task)
    names = meta["labels"]
    preds = get_predictor(tiny_run).predict(split["text"])
    wrong = {row for row, ref, p in zip(split["row"], split["label"], preds) if next(iter(p)) != names[ref]}
    assert found["n_validation"] == len(split["text"]) == 30
    assert {r["row"] for r in found["rows"]} == wrong and found["n_wrong"] == len(wrong)
    assert wrong, "an untrained tiny model gets some rows wrong"
    conf = [r["confidence"] for r in found["rows"]]
    assert conf == sorted(conf, reverse=True)
    assert sum(p["rows"] for p in found["pairs"]) == len(wrong)
    for r in found["rows"]:
        assert r["true"] != r["predicted"] and r["text"] in split["text"]
    assert mistakes.find(tiny_run) == found  # kept in the run's analysis/ folder


@pytest.mark.slow
def test_cli_prints_the_mistakes(tiny_run, capsys, monkeypatch):
    from tuner.cli import main

    monkeypatch.setenv("TUNER_RUNS_DIR", str(tiny_run.path.parent))
    assert main(["mistakes", str(tiny_run.path), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    found = mistakes.find(tiny_run)
    assert f"{found['n_wrong']:,} of 30 validation rows are wrong." in out
    if found["rows"]:
        assert found["rows"][0]["text"][:40] in out


def test_clicking_a_suspected_row_fills_the_row_field():
    """The Row field takes the file row of the clicked table row (the table's first column, counted from 1)."""
    from types import SimpleNamespace

    import pandas as pd

    from tuner.ui.mistakes import ISSUE_COLUMNS, _table, picked_row

    table = _table([{"row": 310, "given": "billing", "suggestion": "returns", "quality": 0.08, "decision": "",
                     "text": "Refund smaller"}, {"row": 4, "given": "a", "suggestion": "b", "quality": 0.2,
                                                 "decision": "", "text": "x"}], ISSUE_COLUMNS)
    assert picked_row(table, SimpleNamespace(index=[0, 5])) == 311
    assert picked_row(table.values.tolist(), SimpleNamespace(index=[1, 2])) == 5
    assert not isinstance(picked_row(pd.DataFrame(), SimpleNamespace(index=[0, 0])), int)  # nothing there: unchanged


def test_the_suggestion_column_says_relabel_or_drop_in_the_pages_language():
    from tuner.ui import i18n
    from tuner.ui.mistakes import suggestion_words

    sure, unsure = {"suggested": "returns", "advice": "relabel"}, {"suggested": "returns", "advice": "drop"}
    assert suggestion_words(sure) == "returns" and suggestion_words(unsure) == "drop (maybe returns)"
    assert suggestion_words({"suggested": "returns"}) == "returns"  # saved before rows had advice: relabel
    assert i18n.say("drop (maybe {label})", "zh", label="x") == "删除（或许是 x）"


def test_apply_without_a_row_says_how_to_pick_one_and_the_evidence_is_worded():
    from unittest import mock

    import gradio as gr
    import pytest

    from tuner.analysis import label_issues
    from tuner.ui import mistakes

    with mock.patch.object(mistakes, "owned_run", lambda run_id, request=None: object()):
        for row in (None, 0):  # the Row field empty, or left at 0: one sentence saying how to pick a row
            with pytest.raises(gr.Error, match="Pick a row first"):
                mistakes.on_decide("run", row, "relabel")
    found = {"evidence": "classical+embeddings", "weights": {"classical": 0.6, "embeddings": 0.4}}
    assert label_issues.describe(found) == "classical 0.60 + embeddings 0.40"
    assert label_issues.describe(found, {"classical": "传统模型", "embeddings": "句向量"}) == "传统模型 0.60 + 句向量 0.40"

