"""Multi-label classification (tuner/tasks/multilabel): how a row's labels are written and detected, the rows left
out, the threshold chosen on validation, the scores against hand-computed values, the multi-hot encoding, and one
tiny in-process run that trains, reports, predicts several labels for a text that carries two, predicts and scores
files, and merges for export."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_BERT
from tuner import data as data_mod
from tuner.config import RunConfig
from tuner.errors import DataError
from tuner.tasks import get_task, task_names
from tuner.tasks.multilabel import metrics, reading
from tuner.tasks.multilabel.predict import Prediction, chosen

TASK = get_task("multilabel")
META = {"task": "multilabel", "labels": ["billing", "shipping", "technical"]}


def test_registered_with_the_contract_of_a_task():
    assert "multilabel" in task_names()
    assert TASK.title == "Tag texts with several labels" and TASK.demo == "classifier"
    assert TASK.selection_metric == TASK.headline_metric == "micro_f1" and TASK.peft_task_type == "SEQ_CLS"
    cfg = RunConfig.from_dict({"task": "multilabel", "data": {"label_separator": "|"}, "adapter": {"method": "ia3"}})
    assert cfg.data.label_separator == "|"
    with pytest.raises(Exception, match="label_separator"):
        RunConfig.from_dict({"task": "multilabel", "data": {"label_separator": "/"}})


def test_the_rest_of_tuner_reads_the_task_from_its_description():
    from tuner import methods
    from tuner.cli import summarize
    from tuner.tasks.common import Splits
    from tuner.ui.evaluate_tab import report_views
    from tuner.ui.i18n import ZH
    from tuner.ui.train_tab import TASK_FIELDS
    from tuner.ui.try_tab import label_view

    assert TASK.settings_fields == ("data.label_separator",) and TASK_FIELDS["multilabel"] == ["data.label_separator"]
    assert methods.supported(TASK, "prompt_tuning") and ZH["label separator"] and ZH["Tag texts with several labels"]
    splits = Splits({"text": ["a", "b", "c"], "labels": [[0], [0, 2], [2]]}, {}, dict(META))
    assert TASK.rows_per_label(splits) == {"billing": 2, "shipping": 0, "technical": 2}
    p = Prediction([("billing", 0.91), ("urgent", 0.62), ("shipping", 0.1)])
    p.chosen, p.threshold, p.separator = ["billing", "urgent"], 0.4, "|"
    assert TASK.demo_view(p) == {"scores": dict(p), "chosen": ["billing", "urgent"]}
    assert label_view(TASK, p).label.endswith("billing, urgent")  # Try it: every label over the threshold
    assert TASK.chosen_labels(p) == ["billing", "urgent"]
    assert TASK.file_columns(p) == {"predicted_labels": "billing|urgent", "confidences": "0.9100|0.6200"}
    assert TASK.file_columns(None) == {"predicted_labels": "", "confidences": ""}
    assert "0.35 or more" in TASK.demo_note({**META, "threshold": 0.35})
    report = {"task": "multilabel", "micro_f1": 0.9, "macro_f1": 0.8, "samples_f1": 0.85, "threshold": 0.35,
              "n_examples": 3, "labels_per_row": {"true": 1.5, "predicted": 1.4},
              "classical": {"name": "TF-IDF", "micro_f1": 0.7, "samples_f1": 0.6},
              "baseline": {"name": "most common label set ('billing')", "micro_f1": 0.3, "samples_f1": 0.2},
              "per_label": [{"label": "billing", "precision": 1.0, "recall": 0.5, "f1": 0.67, "support": 2}]}
    summary, headline, per, _ = report_views(report)
    assert "Samples F1 (each row's label set, averaged): 0.850 (TF-IDF 0.600;" in summary
    assert "probability 0.35 or more" in summary and list(per["label"]) == ["billing"]
    assert {"micro_f1", "macro_f1"} <= set(headline["metric"])
    text = summarize(report)
    assert "label set" in text.splitlines()[0] and "samples_f1" in text and "threshold: 0.35" in text


def test_the_model_card_loads_a_multi_label_head():
    from tuner.model_card import load_snippet

    snippet = load_snippet({**META, "base_model": "default"}, "me/tickets", merged=False)
    assert 'num_labels=3, problem_type="multi_label_classification"' in snippet
    assert "AutoModelForSequenceClassification" in snippet


def test_the_recipe_trains_the_bundled_multi_label_demo_file():
    from tuner.config import load_recipe, recipe_path

    cfg = load_recipe(recipe_path("multilabel"), [])
    assert cfg.task == "multilabel" and cfg.data.train_file.endswith("support_tickets_multilabel.csv")
    info = TASK.inspect(data_mod.read_table(cfg.data.train_file).df, cfg)
    assert info["separator"] == ";" and info["labels_per_row"]["max"] >= 2 and len(info["label_counts"]) == 6
    assert not any("No row has more than one label" in w for w in info["warnings"])


# ---- how a row's labels are written ---------------------------------------------------------------------------
@pytest.mark.parametrize("cells,expected", [
    (["billing;urgent", "shipping", "billing", "technical;urgent"], ";"),
    (["billing | urgent", "shipping", "billing", "technical|urgent"], "|"),
    (['["billing", "urgent"]', '["shipping"]', '["technical", "urgent"]'], "list"),
    (["['billing', 'urgent']", "['shipping']"], "list"),               # a Python list as pandas writes it to CSV
    ([["billing", "urgent"], ["shipping"], []], "list"),                 # a real list column
    (["billing, urgent", "billing", "shipping, urgent", "technical", "shipping"], ","),
    (["Books, Music & Movies"] * 20 + ["Home, Garden"] * 20 + ["Toys"] * 20, "none"),  # commas inside one label
    (["New York, NY", "Boston", "New York, NY", "Austin"], "none"),
    (["I was charged twice, please refund me", "billing"], "none"),     # a comma in text-like parts
    (["billing", "shipping", "technical"], "none"),
    (['["billing", "urgent"]', "shipping;urgent", "billing"], ";"),  # lists, and a separator in the other cells
    (['["x"]', "shipping", "billing"], "list"),
    # ';' splits rows into labels seen elsewhere, '|' only sits inside one label: ';' wins
    (["billing;urgent", "R|D", "R|D;urgent", "billing", "R|D;billing"], ";"),
])
def test_separator_detection(cells, expected):
    assert reading.detect_separator(cells) == expected


def test_known_labels_let_a_small_file_split_on_commas():
    cells = ["billing, urgent", "shipping"]
    assert reading.detect_separator(cells) == "none"  # 'billing' and 'urgent' are seen only once
    assert reading.detect_separator(cells, known={"billing", "urgent", "shipping"}) == ","


def test_labels_are_stripped_deduplicated_and_empty_parts_dropped():
    assert reading.split_labels(" billing ; urgent;; billing ;", ";") == ["billing", "urgent"]
    assert reading.split_labels('["a", " b ", "a", ""]', "none") == ["a", "b"]
    assert reading.split_labels(["x", 2], ";") == ["x", "2"]       # a list is a list, whatever the separator
    assert reading.split_labels("a;b", "none") == ["a;b"]
    assert reading.split_labels(float("nan"), ";") == []


def write_csv(path, rows, header=("text", "labels")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_list_columns_of_json_lines_and_parquet_are_read_as_lists(tmp_path):
    records = [{"text": f"ticket {i}", "tags": ["billing", "urgent"] if i % 2 else ["shipping"]} for i in range(20)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    pd.DataFrame(records).to_parquet(tmp_path / "t.parquet")
    for name in ("t.jsonl", "t.parquet"):
        df = data_mod.read_table(tmp_path / name).df
        assert TASK.propose(df) == {"text_columns": ["text"], "label_column": "tags"}
        rows = TASK.extract(df, ["text"], "tags")
        assert rows.separator == "list" and rows.labels[1] == ["billing", "urgent"] and rows.labels[0] == ["shipping"]


def test_rows_without_labels_or_text_are_left_out_and_counted(tmp_path):
    good = [(f"My parcel {i} is late", "shipping;urgent" if i % 3 else "shipping") for i in range(40)]
    path = write_csv(tmp_path / "t.csv", good[:10] + [("no labels here", " ; "), ("", "billing")] + good[10:])
    df = data_mod.read_table(path).df
    rows = TASK.extract(df, ["text"], "labels")
    assert len(rows.texts) == 40 and len(rows.skipped) == 2
    reasons = [(where, why.en) for where, why in rows.skipped.rows]
    assert reasons[0] == ("row 11", "the label ('labels') is empty") and reasons[1][0] == "row 12"
    with pytest.raises(DataError, match="strict checking is on"):
        TASK.extract(df, ["text"], "labels", strict=True)
    # a validation file: a row holding a label the training data never has is left out, named by that label
    vrows = [(f"My parcel {i} is late", "shipping") for i in range(20)] + [("Late and urgent", "shipping;urgent")]
    vdf = data_mod.read_table(write_csv(tmp_path / "v.csv", vrows)).df
    val = TASK.extract(vdf, ["text"], "labels", known_labels={"shipping"}, source="validation file")
    assert len(val.texts) == 20 and val.skipped.rows[0][0] == "row 21"
    assert "'urgent' never occurs in the training file" in val.skipped.rows[0][1].en


def test_inspect_reports_label_counts_labels_per_row_and_the_separator(tmp_path):
    rows = [(f"text {i}", "a|b" if i % 2 else "a") for i in range(30)] + [("rare one", "c|a")]
    df = data_mod.read_table(write_csv(tmp_path / "t.csv", rows)).df
    info = TASK.inspect(df, RunConfig.from_dict({"task": "multilabel"}))
    assert info["rows"] == 31 and info["label_counts"] == {"a": 31, "b": 15, "c": 1}
    assert info["labels_per_row"] == {"mean": round(47 / 31, 2), "max": 2} and info["separator"] == "|"
    assert "Labels split on '|'" in info["shape_title"]
    assert any("fewer than 5 rows (e.g. 'c')" in w for w in info["warnings"])
    assert any("'a' is on every row" in w for w in info["warnings"])
    one = data_mod.read_table(write_csv(tmp_path / "one.csv", [("x", "a"), ("y", "a")])).df
    with pytest.raises(DataError, match="at least two different labels") as err:
        TASK.inspect(one, RunConfig.from_dict({"task": "multilabel"}))
    assert err.value.zh


def test_a_held_out_row_with_a_label_only_it_has_stays_in_training():
    labels = [["a"]] * 50 + [["a", "only"]] + [["b"]] * 49
    for seed in range(20):
        train, val = reading.held_out(labels, 0.2, seed)
        assert sorted(train + val) == list(range(100)) and 50 not in val
        assert 15 <= len(val) <= 20


# ---- threshold and scores ---------------------------------------------------------------------------------------
def test_threshold_is_chosen_on_a_hand_made_probability_matrix():
    probs = np.array([[0.9, 0.30, 0.10], [0.2, 0.35, 0.80], [0.6, 0.10, 0.05]])
    refs = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0]])
    # 0.25 and 0.30 both get every label right (0.20 adds a wrong one, 0.35 drops one): the nearer to 0.5 wins
    assert metrics.choose_threshold(probs, refs) == 0.30
    assert metrics.scores(metrics.decide(probs, 0.30), refs)["micro_f1"] == 1.0
    assert metrics.scores(metrics.decide(probs, 0.35), refs)["micro_f1"] < 1.0
    # a row with nothing over the threshold still gets its most likely label
    assert metrics.decide(np.array([[0.1, 0.2, 0.05]]), 0.5).tolist() == [[False, True, False]]


def test_scores_match_hand_computed_values():
    refs = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    pred = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)
    s = metrics.scores(pred, refs)
    # 4 true positives, 1 false positive (row 2, label 3), 1 false negative (row 1, label 2)
    assert s["micro_f1"] == s["precision"] == s["recall"] == pytest.approx(0.8)
    assert s["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)      # per label: 1, 2/3, 2/3
    assert s["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)    # per row: 2/3, 2/3, 1
    assert s["accuracy"] == pytest.approx(1 / 3)                         # the whole set right: row 3 only


def test_report_per_label_threshold_and_baseline():
    probs = np.array([[0.9, 0.2, 0.1], [0.1, 0.8, 0.7], [0.7, 0.1, 0.9]])
    refs = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    report = TASK.report(probs, refs, META, train_labels=[[0], [0], [0, 2], [1]], threshold=0.5)
    assert report["threshold"] == 0.5 and report["n_examples"] == 3 and report["labels"] == META["labels"]
    assert report["micro_f1"] == pytest.approx(0.8)
    by = {r["label"]: r for r in report["per_label"]}
    assert by["billing"] == {"label": "billing", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert by["shipping"]["recall"] == pytest.approx(0.5) and by["technical"]["precision"] == pytest.approx(0.5)
    assert report["baseline"]["name"] == "most common label set ('billing')"
    assert report["baseline"]["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 3))  # 2 TP, 1 FP, 3 FN
    assert report["labels_per_row"] == {"true": pytest.approx(5 / 3, abs=1e-3),
                                        "predicted": pytest.approx(5 / 3, abs=1e-3)}


def test_compute_metrics_keeps_the_threshold_of_the_best_evaluation_in_the_meta():
    meta = dict(META)
    fn = TASK.compute_metrics(meta)
    refs = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.float32)
    good = np.log(np.array([[0.9, 0.1, 0.1], [0.1, 0.7, 0.7]]) / (1 - np.array([[0.9, 0.1, 0.1], [0.1, 0.7, 0.7]])))
    out = fn((good, refs))
    assert out["micro_f1"] == 1.0 and meta["threshold"] == out["threshold"] == 0.5
    bad = -good
    worse = fn((bad, refs))
    assert worse["micro_f1"] < 1.0 and meta["threshold"] == 0.5 and set(out) >= {"macro_f1", "samples_f1", "accuracy"}


# ---- model inputs -----------------------------------------------------------------------------------------------
def test_encode_gives_multi_hot_float_labels_and_the_collator_float32_tensors(tiny_model_dir):
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    ds = TASK.encode({"text": ["refund me", "parcel late and app crashes " * 20], "labels": [[0], [1, 2]],
                      "n_labels": 3}, tok, 16)
    assert ds.features["labels"].feature.dtype == "float32"
    assert [list(x) for x in ds["labels"]] == [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]] and len(ds[1]["input_ids"]) == 16
    batch = TASK.collator(tok)([ds[0], ds[1]])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (2, 3)
    model = TASK.build_model(str(tiny_model_dir), META)
    assert model.config.problem_type == "multi_label_classification" and model.config.num_labels == 3
    out = model(**batch)
    assert out.logits.shape == (2, 3) and torch.isfinite(out.loss)  # binary cross-entropy on float labels
    # the new head starts at the labels' training shares (log-odds), not at 0.5 for every label
    primed = TASK.build_model(str(tiny_model_dir), {**META, "label_priors": [0.5, 0.25, 0.1]})
    assert primed.classifier.bias.tolist() == pytest.approx([0.0, np.log(1 / 3), np.log(1 / 9)], abs=1e-5)
    # the run's LoRA adapter (the head trained in full) takes the same batch and trains
    from tuner import models

    cfg = RunConfig.from_dict({"task": "multilabel", "adapter": {"r": 4, "alpha": 8}})
    lora = models.attach_adapter(TASK.build_model(str(tiny_model_dir), META), cfg.adapter, TASK.peft_task_type,
                                 TASK.modules_to_save(model))
    lora(**batch).loss.backward()
    grads = {n: p.grad is not None for n, p in lora.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in grads) and any("classifier" in n for n in grads) and all(grads.values())


def test_predict_returns_probabilities_highest_first_and_the_chosen_labels(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = TASK.build_model(str(tiny_model_dir), META).eval()
    texts = ["refund", "the courier lost my parcel " * 5, "app"]
    out = TASK.predict(model, tok, texts, {**META, "threshold": 0.05}, 32, batch_size=2)
    assert len(out) == 3 and all(list(p.values()) == sorted(p.values(), reverse=True) for p in out)
    assert all(p.chosen == list(p) for p in out)  # every label is over 0.05
    strict = TASK.predict(model, tok, texts, {**META, "threshold": 0.99}, 32)
    assert all(p.chosen == list(p)[:1] for p in strict)  # none over 0.99: the most likely one
    assert TASK.chosen(dict(out[0]), {"threshold": 0.99}) == list(out[0])[:1]


def test_format_prediction_prints_every_chosen_label():
    p = Prediction([("billing", 0.91), ("urgent", 0.62), ("shipping", 0.1)])
    p.chosen, p.threshold = ["billing", "urgent"], 0.4
    assert TASK.format_prediction("I was charged twice", p) == "billing;urgent\t0.9100;0.6200\tI was charged twice"
    assert chosen(dict(p), {"threshold": 0.95}) == ["billing"]


# ---- one tiny run, end to end --------------------------------------------------------------------------------
TOPICS = {"billing": ["refund", "invoice"], "shipping": ["parcel", "courier"], "technical": ["crashes", "error"]}
FILLER = ["my", "the", "please", "again", "today", "order", "help", "still"]


def ticket(rng, *labels: str) -> str:
    words = [rng.choice(TOPICS[label]) for label in labels] + [rng.choice(FILLER)]
    rng.shuffle(words)
    return " ".join(words)


def multi_label_rows(seed: int = 0, per_kind: int = 24) -> list[tuple[str, str]]:
    """Tickets about one topic (one label) and tickets about two (both labels; the words of both)."""
    rng = random.Random(seed)
    rows = []
    for label in TOPICS:
        rows += [(ticket(rng, label), label) for _ in range(per_kind)]
    for a, b in (("billing", "shipping"), ("billing", "technical"), ("shipping", "technical")):
        rows += [(ticket(rng, a, b), f"{a};{b}") for _ in range(per_kind)]
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def wider_model_dir(tmp_path_factory):
    """A tiny random BERT twice as wide as conftest's (64 wide, 4 heads): a 32-wide random model's [CLS] reads
    little more than the text's length, and its multi-label head stalls on the label priors for long stretches."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tuner.models import bundled_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, **{**TINY_BERT, "hidden_size": 64, "num_attention_heads": 4,
                                                            "intermediate_size": 128})
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("wider-bert")
    BertModel(config).save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, wider_model_dir):
    from tuner import runs, train

    root = tmp_path_factory.mktemp("multilabel")
    csv_path = write_csv(root / "tickets.csv", multi_label_rows(per_kind=40))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        mp.delenv("WANDB_API_KEY", raising=False)
        cfg = RunConfig.from_dict({
            "task": "multilabel", "name": "multi-label test",
            "data": {"train_file": str(csv_path), "validation_fraction": 0.2},
            "model": {"name": str(wider_model_dir), "max_length": 16},
            "adapter": {"method": "full"},  # LoRA on a random model learns too slowly for a test; attached below
            "train": {"epochs": 30, "batch_size": 16, "evals": 2, "learning_rate": 2e-3, "precision": "fp32"},
        })
        run = runs.create_run(cfg)
        assert train.main([str(run.config_path)]) == 0, run.log_path.read_text()[-3000:]
        yield run, root


def test_run_reports_micro_macro_samples_f1_and_keeps_its_threshold(trained):
    run, _ = trained
    assert run.state == "completed" and run.has_adapter()
    report = run.metrics()
    for key in ("micro_f1", "macro_f1", "samples_f1", "accuracy", "precision", "recall"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["micro_f1"] > 0.8, report
    assert [r["label"] for r in report["per_label"]] == META["labels"]
    assert report["classical"]["name"].endswith("one-vs-rest logistic regression")
    assert report["baseline"]["name"].startswith("most common label set")
    assert report["verdict"]["metric"] == "micro_f1"
    meta = run.meta()
    assert meta["label_separator"] == ";" and meta["threshold"] in metrics.GRID
    assert meta["label_priors"] == pytest.approx([0.5, 0.5, 0.5], abs=0.1)  # each topic is on half the rows
    assert meta["threshold"] == report["threshold"]
    events = [e for e in run.events() if e.get("type") == "eval"]
    assert events and all("micro_f1" in e and "threshold" in e for e in events)


def test_prediction_gives_both_labels_of_a_text_that_carries_two(trained):
    from tuner.inference import Predictor

    run, _ = trained
    predictor = Predictor(run)
    two, one = predictor.predict(["refund my parcel", "crashes again"])
    assert set(two.chosen) == {"billing", "shipping"}, dict(two)
    assert one.chosen == ["technical"], dict(one)
    from tuner.ui.try_tab import label_view

    shown = label_view(TASK, two)  # Try it titles the scores with every label over the threshold
    assert sorted(shown.label.split(": ", 1)[1].split(", ")) == ["billing", "shipping"]
    line = TASK.format_prediction("x", two)
    assert sorted(line.split("\t")[0].split(";")) == ["billing", "shipping"]


def test_predict_and_evaluate_a_file(trained, tmp_path):
    from tuner.inference import Predictor

    run, _ = trained
    predictor = Predictor(run)
    rows = multi_label_rows(seed=7, per_kind=4)
    path = write_csv(tmp_path / "new.csv", rows + [("", "billing")])
    info = predictor.predict_file(path, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert info["rows"] == len(rows) + 1 and info["left_out"]["rows"] == 1
    assert list(out.columns) == ["text", "labels", "predicted_labels", "confidences"]
    assert (out["predicted_labels"].str.count(";") == out["confidences"].str.count(";")).all()
    assert out["predicted_labels"].str.contains(";").any() and out["predicted_labels"].iloc[-1] == ""
    report = predictor.evaluate_file(path)
    assert report["threshold"] == run.meta()["threshold"] and report["n_examples"] == len(rows)
    assert report["micro_f1"] > 0.7 and "classical" in report and report["left_out"]["rows"] == 1


def test_merged_export_is_a_multi_label_model(trained, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from tuner import export, model_card

    run, _ = trained
    folder = export.merge(run, tmp_path / "merged")
    model = AutoModelForSequenceClassification.from_pretrained(str(folder))
    assert model.config.problem_type == "multi_label_classification" and model.config.num_labels == 3
    assert json.loads((folder / "tuner_meta.json").read_text())["threshold"] == run.meta()["threshold"]
    assert "micro_f1" in model_card.render(run, "me/tickets")


# ---- the mistakes view (issue #26) -----------------------------------------------------------------------------
def made(probs: dict, threshold: float = 0.5) -> Prediction:
    """A prediction as the task's predict makes it: probabilities highest first, the labels at the threshold."""
    out = Prediction(sorted(probs.items(), key=lambda kv: -kv[1]))
    out.chosen = [k for k, p in out.items() if p >= threshold] or list(out)[:1]
    return out


def test_mistakes_are_the_rows_with_a_wrong_label_set_surest_first():
    from tuner.analysis import mistakes
    from tuner.tasks.multilabel.analysis import NONE, label_errors, rank_set_mistakes

    names = META["labels"]
    truth = [[0], [0, 1], [2], [1, 2], [1]]
    preds = [made({"billing": 0.9, "shipping": 0.1, "technical": 0.2}),    # right
             made({"billing": 0.8, "shipping": 0.3, "technical": 0.1}),    # shipping missed (1 - 0.3 = 0.7)
             made({"billing": 0.95, "shipping": 0.2, "technical": 0.6}),   # billing extra (0.95)
             made({"billing": 0.1, "shipping": 0.7, "technical": 0.45}),   # technical missed (0.55)
             made({"billing": 0.2, "shipping": 0.9, "technical": 0.1})]    # right
    wrong = rank_set_mistakes(["a", "b", "c", "d", "e"], truth, preds, names, rows=[10, 11, 12, 13, 14])
    assert [r["row"] for r in wrong] == [12, 11, 13]  # confidence 0.95, 0.7, 0.55
    assert wrong[0]["true"] == "technical" and wrong[0]["predicted"] == "billing; technical"
    assert wrong[0]["extra"] == ["billing"] and wrong[0]["missed"] == [] and wrong[0]["confidence"] == 0.95
    assert wrong[1]["missed"] == ["shipping"] and wrong[1]["confidence"] == 0.7
    assert label_errors(wrong + wrong[:1]) == [{"true": NONE, "predicted": "billing", "rows": 2},  # most rows first
                                               {"true": "shipping", "predicted": NONE, "rows": 1},
                                               {"true": "technical", "predicted": NONE, "rows": 1}]
    assert [r["row"] for r in mistakes.filtered(wrong, true="shipping")] == [11, 13]  # in the true set
    assert [r["row"] for r in mistakes.filtered(wrong, predicted="billing")] == [12, 11]


def test_mistakes_view_of_the_tiny_run(trained, tmp_path, capsys):
    """The tiny run scored on a validation file where every third row carries a wrong label set: the view lists
    exactly the rows whose predicted set is not the file's, surest first, each with its row in that file."""
    import shutil

    from tuner import cli, runs
    from tuner.analysis import mistakes
    from tuner.inference import Predictor
    from tuner.tasks.multilabel.analysis import SETS_NOTE
    from tuner.ui import i18n
    from tuner.ui import mistakes as page

    run, _ = trained
    rows = multi_label_rows(seed=5, per_kind=4)
    others = {"billing": "shipping", "shipping": "technical", "technical": "billing"}
    rows = [(t, ";".join(others[x] for x in labs.split(";")) if i % 3 == 0 else labs) for i, (t, labs) in enumerate(rows)]
    valid = write_csv(tmp_path / "valid.csv", rows)
    copy = runs.Run(shutil.copytree(run.path, run.path.parent / (run.id[:-6] + "abcdef")))
    cfg = copy.config()
    cfg.data.validation_file = str(valid)
    cfg.save(copy.config_path)
    found = mistakes.find(copy)
    split = TASK.analysis_splits(copy.config()).validation
    preds = Predictor(copy).predict(split["text"])
    names = copy.meta()["labels"]
    differ = {split["row"][i] for i, (ids, p) in enumerate(zip(split["labels"], preds))
              if sorted(p.chosen) != sorted(names[j] for j in ids)}
    assert found["kind"] == "labels" and found["sets"] and found["n_validation"] == len(rows)
    assert {r["row"] for r in found["rows"]} == differ and found["n_wrong"] == len(differ) >= len(rows) // 3 - 2
    assert abs((1 - Predictor(copy).evaluate_file(valid)["accuracy"]) * len(rows) - found["n_wrong"]) < 0.5
    assert [r["confidence"] for r in found["rows"]] == sorted((r["confidence"] for r in found["rows"]), reverse=True)
    for r in found["rows"]:  # "row" is the row of the validation file
        assert rows[r["row"]][0] == r["text"] and sorted(rows[r["row"]][1].split(";")) == sorted(r["true_set"])
        assert sorted(r["missed"] + r["extra"]) == sorted(set(r["true_set"]) ^ set(r["predicted_set"]))
    assert sum(p["rows"] for p in found["pairs"]) == sum(len(r["missed"]) + len(r["extra"]) for r in found["rows"])
    assert cli.main(["mistakes", copy.id, "--true", "billing"]) == 0
    out = capsys.readouterr().out
    assert f"{found['n_wrong']:,} of {len(rows):,} validation rows are wrong" in out and " -> —: " in out
    assert SETS_NOTE in out
    summary = page.labels_view(found)[0]
    assert SETS_NOTE in summary and i18n.say(SETS_NOTE, "zh") != SETS_NOTE
    from tuner.ui import evaluate_tab

    assert evaluate_tab.show(run.id)[3]["visible"] is False  # no confusion matrix: no empty frame either
    labels_box, entities_box, _, issues_box, why, _ = page.sections(run)  # the label view; no label-error tools
    assert labels_box["visible"] and not entities_box["visible"] and not issues_box["visible"]
    assert "one label per row" in why
